import AMQP
import ArmadaTestSupport
import Foundation
import Glibc
import Lifecycle
import Messaging
import OrdersContracts
import Postgres
import Testing
import WalletContracts

@testable import Provisioning
@testable import Wallet

/// Lifecycle rules through ticks the tests publish, against the running lifecycle worker and
/// provisioner. Each test lives in its own year long past and they run one at a time: a tick
/// finds only what is due by its time, so it never touches an order of a later year (every other
/// suite's order expires around today), and a later year's ticks come only after the earlier
/// test is over.
@Suite("Lifecycle: reminders, renewal, suspension and termination through ticks", .serialized)
struct LifecycleEndToEndTests {
    let pool = TestDatabase.pool(size: 2, name: "e2e-lifecycle")

    /// `days` days and `hours` hours into the test's year.
    static func time(_ year: Int, days: Double = 0, hours: Double = 0) -> Date {
        var components = DateComponents()
        (components.year, components.month, components.day, components.hour) = (year, 1, 1, 12)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: components)!.addingTimeInterval(days * 86_400 + hours * 3600)
    }

    /// An ACTIVE order expiring at `expiresAt`, on the test account, with a droplet id the
    /// simulator does not know (suspension's power-off and termination's delete find it gone);
    /// not counted on the account, whose room the provisioning suites need.
    func order(_ period: BillingPeriod, expiresAt: Date, autoRenew: Bool, balance: Int64) async throws -> (UUID, String) {
        _ = try await RunningSystem.shared.baseURL()
        let account = await RunningSystem.shared.accountId
        let customer = TestEnvironment.unique("cust")
        let id = UUID()
        let place = PlaceOrder(
            orderId: id, customerId: customer, planId: UUID(uuidString: OrderEndToEndTests.basicPlan)!, planName: "basic",
            sizeSlug: "s-1vcpu-1gb", image: "debian-12-x64", region: "sgp1", billingPeriod: period, price: 50_000,
            hostname: "life-" + id.uuidString.prefix(8).lowercased(), sshKeys: [], autoRenew: autoRenew)
        try await pool.transaction { connection in
            if balance > 0 {
                _ = try Ledger.credit(
                    customer, amount: balance, reference: .adminAdjustment, referenceId: "seed-\(customer)", description: "test",
                    on: connection)
            }
            _ = try Orders.insert(place, commandId: nil, at: expiresAt.addingTimeInterval(-86_400 * 31), on: connection)
            try connection.execute(
                """
                UPDATE orders SET status = 'ACTIVE', activated_at = $2, expires_at = $3, do_account_id = $4, droplet_id = $5,
                    droplet_status = 'active', counted = false
                WHERE id = $1
                """, id, period.end(from: expiresAt.addingTimeInterval(-86_400 * 400)),
                // A fraction of a second, as an order activated before times were kept whole carries:
                // a tick's message (whole seconds) must still name its period.
                expiresAt.addingTimeInterval(0.437), account, Int64.random(in: 900_000_000...999_999_999))
        }
        return (id, customer)
    }

    /// Publishes the tick for `now` and waits until the lifecycle worker processed it (its
    /// fan-out is then in the outbox).
    func tick(_ now: Date) async throws {
        let broker = try await brokerClient(TestEnvironment.amqpURL)
        // Its own id each run (the test database outlives a run; a period's id would be a duplicate).
        let id = UUID()
        try await broker.publish(Envelope(id: id, data: LifecycleTick(now: now), occurredAt: now))
        await broker.close()
        let processed = await eventually(timeout: .seconds(30)) {
            (try? await pool.withConnection {
                try !$0.query("SELECT 1 FROM inbox WHERE consumer = 'armada-lifecycle' AND message_id = $1", id).isEmpty
            }) ?? false
        }
        #expect(processed, "tick \(now) processed")
    }

    func reminders(_ id: UUID) async throws -> [String] {
        try await pool.withConnection {
            try $0.query("SELECT threshold_hours, outcome FROM lifecycle_reminders WHERE order_id = $1 ORDER BY threshold_hours DESC", id)
                .map {
                    "\(try $0.decode("threshold_hours", as: Int.self)):\(try $0.decode("outcome", as: String.self))"
                }
        }
    }

    /// Waits until the lifecycle worker handled every command the ticks fanned out for the order.
    func settled(_ id: UUID) async -> Bool {
        await eventually(timeout: .seconds(90)) {
            let pending: Int =
                (try? await pool.withConnection {
                    try $0.query(
                        """
                        SELECT count(*)::int AS n FROM outbox o
                        WHERE o.message_type LIKE 'lifecycle.%' AND o.body::jsonb -> 'data' ->> 'orderId' = $1
                          AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.consumer = 'armada-lifecycle' AND i.message_id = o.message_id)
                        """, id.uuidString.uppercased()
                    ).first!.decode("n")
                }) ?? 1
            return pending == 0
        }
    }

    func status(_ id: UUID) async throws -> String {
        try await pool.withConnection { try $0.query("SELECT status FROM orders WHERE id = $1", id).first!.decode("status") }
    }

    func events(_ type: String, _ id: UUID) async throws -> Int {
        try await pool.withConnection {
            try $0.query(
                "SELECT count(*)::int AS n FROM outbox WHERE message_type = $1 AND body::jsonb -> 'data' ->> 'orderId' = $2", type,
                id.uuidString.uppercased()
            ).first!.decode("n")
        }
    }

    @Test("monthly reminders at 168, 72, 24 and 8 h, each once; found late, only the most urgent is sent and the earlier are skipped")
    func reminderThresholds() async throws {
        let expires = Self.time(2001, days: 20)
        let (onTime, _) = try await order(.monthly, expiresAt: expires, autoRenew: false, balance: 0)
        let (late, _) = try await order(.monthly, expiresAt: expires.addingTimeInterval(600), autoRenew: false, balance: 0)
        for hours in [170.0, 167, 100, 71, 70] {
            try await tick(expires.addingTimeInterval(-hours * 3600))
            #expect(await settled(onTime))
        }
        #expect(try await reminders(onTime) == ["168:sent", "72:sent"])
        #expect(try await status(onTime) == "EXPIRING_SOON")
        #expect(try await reminders(late) == ["168:sent", "72:sent"])
        try await tick(expires.addingTimeInterval(-20 * 3600))
        try await tick(expires.addingTimeInterval(-7 * 3600))
        #expect(await settled(onTime))
        #expect(await settled(late))
        #expect(try await reminders(onTime) == ["168:sent", "72:sent", "24:sent", "8:sent"])
        #expect(try await events(VPSExpiringSoon.messageType, onTime) == 4)

        // Found late: the first tick comes 20 h before expiry.
        let lateExpiry = Self.time(2001, days: 60)
        let (found, _) = try await order(.monthly, expiresAt: lateExpiry, autoRenew: false, balance: 0)
        try await tick(lateExpiry.addingTimeInterval(-20 * 3600))
        #expect(await settled(found))
        #expect(try await reminders(found) == ["168:skipped", "72:skipped", "24:sent"])
        #expect(try await events(VPSExpiringSoon.messageType, found) == 1)
    }

    @Test(
        "auto-renewal: from expiry, charged once per period; short of money: one RENEWAL_FAILED, suspended at expiry, renewed after a top-up"
    )
    func autoRenewal() async throws {
        let expires = Self.time(2003, days: 30)
        let (paid, payer) = try await order(.monthly, expiresAt: expires, autoRenew: true, balance: 60_000)
        try await tick(expires.addingTimeInterval(-23 * 3600))
        try await tick(expires.addingTimeInterval(-22 * 3600))
        #expect(await settled(paid))
        let newExpiry: Date = try await pool.withConnection {
            try $0.query("SELECT expires_at FROM orders WHERE id = $1", paid).first!.decode("expires_at")
        }
        #expect(newExpiry == BillingPeriod.monthly.end(from: expires), "one month on from the old expiry")
        #expect(try await balance(payer, pool) == 10_000, "charged once over two ticks")
        #expect(try await status(paid) == "ACTIVE")

        let (short, customer) = try await order(.monthly, expiresAt: expires.addingTimeInterval(3600), autoRenew: true, balance: 20_000)
        let end = expires.addingTimeInterval(3600)
        try await tick(end.addingTimeInterval(-23 * 3600))
        try await tick(end.addingTimeInterval(-10 * 3600))
        #expect(await settled(short))
        #expect(try await events(VPSRenewalFailed.messageType, short) == 1, "told once per period, tried on every tick")
        try await tick(end.addingTimeInterval(60))
        #expect(await settled(short))
        #expect(try await status(short) == "SUSPENDED")
        #expect(try await events(VPSSuspended.messageType, short) == 1)
        // Topped up during the grace period: the next tick renews from that tick's time.
        _ = try await pool.transaction {
            try Ledger.credit(
                customer, amount: 40_000, reference: .adminAdjustment, referenceId: "topup-\(customer)", description: "test", on: $0)
        }
        let later = end.addingTimeInterval(5 * 3600)
        try await tick(later)
        #expect(await settled(short))
        #expect(try await status(short) == "ACTIVE")
        let reactivated: Date = try await pool.withConnection {
            try $0.query("SELECT expires_at FROM orders WHERE id = $1", short).first!.decode("expires_at")
        }
        #expect(reactivated == BillingPeriod.monthly.end(from: later), "renewed from now, the old expiry being past")
        #expect(try await balance(customer, pool) == 10_000)
    }

    @Test("expiry: daily terminated at once; monthly suspended 12 h kept, 25 h terminated; yearly suspended 48 h kept, 73 h terminated")
    func graceAndTermination() async throws {
        let expires = Self.time(2005, days: 100)
        let (daily, _) = try await order(.daily, expiresAt: expires, autoRenew: false, balance: 0)
        let (monthly, _) = try await order(.monthly, expiresAt: expires, autoRenew: false, balance: 0)
        let (yearly, _) = try await order(.yearly, expiresAt: expires, autoRenew: false, balance: 0)
        try await tick(expires.addingTimeInterval(60))
        for id in [daily, monthly, yearly] { #expect(await settled(id)) }
        #expect(try await status(daily) == "TERMINATED")
        #expect(try await status(monthly) == "SUSPENDED")
        #expect(try await status(yearly) == "SUSPENDED")
        let reason: String? = try await pool.withConnection {
            try $0.query("SELECT termination_reason FROM orders WHERE id = $1", daily).first!.decode("termination_reason")
        }
        #expect(reason == "EXPIRED_NO_RENEWAL")

        try await tick(expires.addingTimeInterval(60 + 12 * 3600))
        #expect(await settled(monthly))
        #expect(try await status(monthly) == "SUSPENDED", "12 h into a 24 h grace")
        try await tick(expires.addingTimeInterval(60 + 25 * 3600))
        #expect(await settled(monthly))
        #expect(try await status(monthly) == "TERMINATED", "25 h into a 24 h grace")
        try await tick(expires.addingTimeInterval(60 + 48 * 3600))
        #expect(await settled(yearly))
        #expect(try await status(yearly) == "SUSPENDED", "48 h into a 72 h grace")
        try await tick(expires.addingTimeInterval(60 + 73 * 3600))
        #expect(await settled(yearly))
        #expect(try await status(yearly) == "TERMINATED")
        #expect(try await events(VPSTerminated.messageType, monthly) == 1)
        // Terminating twice: a later tick finds nothing more to do.
        try await tick(expires.addingTimeInterval(60 + 100 * 3600))
        #expect(await settled(yearly))
        #expect(try await events(VPSTerminated.messageType, yearly) == 1)
    }

    @Test("two schedulers: every period's tick is handled once; with one killed, ticks go on within a period")
    func schedulers() async throws {
        _ = try await RunningSystem.shared.baseURL()
        let period = 2
        var schedulers: [ChildProcess] = []
        defer { for process in schedulers { process.signal(SIGKILL) } }
        for _ in 0..<2 {
            let (process, _, metrics) = try launch("armada-lifecycle", extra: ["ARMADA_TICK_SECONDS": "\(period)"])
            schedulers.append(process)
            #expect(await waitForHTTP("http://127.0.0.1:\(metrics)/health"))
        }
        func handledTicks(after start: Date) async throws -> [(now: Date, times: Int)] {
            try await pool.withConnection {
                try $0.query(
                    """
                    SELECT (o.body::jsonb -> 'data' ->> 'now') AS now, count(i.message_id)::int AS times
                    FROM outbox o LEFT JOIN inbox i ON i.message_id = o.message_id AND i.consumer = 'armada-lifecycle'
                    WHERE o.message_type = 'lifecycle.tick' AND o.created_at >= $1
                    GROUP BY o.message_id, o.body ORDER BY 1
                    """, start
                ).map { row in
                    (
                        ISO8601DateFormatter().date(from: try row.decode("now", as: String.self)) ?? .distantPast,
                        try row.decode("times", as: Int.self)
                    )
                }
            }
        }
        let start = Date()
        #expect(
            await eventually(timeout: .seconds(20)) { ((try? await handledTicks(after: start)) ?? []).filter { $0.times == 1 }.count >= 3 })
        let before = try await handledTicks(after: start)
        #expect(before.allSatisfy { $0.times <= 1 }, "a period's tick is one message, handled once")
        let nows = before.map(\.now)
        #expect(zip(nows, nows.dropFirst()).allSatisfy { $1.timeIntervalSince($0) == Double(period) }, "one tick per period: \(nows)")

        schedulers[0].signal(SIGKILL)
        let killed = Date()
        let goesOn = await eventually(timeout: .seconds(20)) {
            ((try? await handledTicks(after: start)) ?? []).contains { $0.times == 1 && $0.now > killed.addingTimeInterval(Double(period)) }
        }
        #expect(goesOn, "the other scheduler's ticks go on")

        // Their ticks carry today's time: none may still be waiting when a later suite moves time.
        for process in schedulers { process.signal(SIGKILL) }
        let drained = await eventually(timeout: .seconds(60)) {
            let waiting: Int =
                (try? await pool.withConnection {
                    try $0.query(
                        """
                        SELECT count(*)::int AS n FROM outbox o
                        WHERE o.message_type = 'lifecycle.tick' AND o.created_at >= $1
                          AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.consumer = 'armada-lifecycle' AND i.message_id = o.message_id)
                        """, start
                    ).first!.decode("n")
                }) ?? 1
            return waiting == 0
        }
        #expect(drained, "every tick the schedulers wrote was handled")
    }
}

/// Thirty simulated days of hourly ticks over 1,000 orders, with a second lifecycle process
/// consuming beside the running one; run alone in the serial step (Deploy/local/test.sh).
@Suite("Lifecycle load: 30 days of ticks over 1,000 orders, two processes")
struct LifecycleLoadTests {
    let pool = TestDatabase.pool(size: 4, name: "e2e-lifecycle-load")

    @Test("every reminder exactly once, every renewal charged once, no order skipped")
    func thirtyDays() async throws {
        let fixture = LifecycleEndToEndTests()
        _ = try await RunningSystem.shared.baseURL()
        let (second, _, metrics) = try launch("armada-lifecycle", extra: ["ARMADA_LIFECYCLE_SCHEDULER": "off"])
        defer { second.signal(SIGKILL) }
        #expect(await waitForHTTP("http://127.0.0.1:\(metrics)/health"))
        let start = LifecycleEndToEndTests.time(2012)
        // 1,000 monthly orders expiring over days 8 to 28; every fifth customer cannot pay a renewal.
        var created: [(id: UUID, customer: String, expires: Date, pays: Bool)] = []
        for index in 0..<1000 {
            let expires = start.addingTimeInterval(Double(8 * 24 + (index * 480) / 1000) * 3600 + 1800)
            let pays = index % 5 != 0
            let (id, customer) = try await fixture.order(.monthly, expiresAt: expires, autoRenew: true, balance: pays ? 50_000 : 10_000)
            created.append((id, customer, expires, pays))
        }
        let orders = created
        for hour in 0..<(30 * 24) {
            try await fixture.tick(start.addingTimeInterval(Double(hour) * 3600))
        }
        // Every command the ticks fanned out handled.
        let drained = await eventually(timeout: .seconds(180), every: .seconds(1)) {
            let pending: Int =
                (try? await pool.withConnection {
                    try $0.query(
                        """
                        SELECT count(*)::int AS n FROM outbox o
                        WHERE o.message_type LIKE 'lifecycle.%' AND o.created_at > now() - interval '1 hour'
                          AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.consumer = 'armada-lifecycle' AND i.message_id = o.message_id)
                        """
                    ).first!.decode("n")
                }) ?? 1
            return pending == 0
        }
        #expect(drained)
        let ids = orders.map(\.id)
        let reminders: [UUID: [Int]] = try await pool.withConnection { connection in
            var found: [UUID: [Int]] = [:]
            for row in try connection.query(
                "SELECT order_id, threshold_hours, outcome FROM lifecycle_reminders WHERE order_id = ANY(string_to_array($1, ',')::uuid[])",
                ids.map(\.uuidString).joined(separator: ","))
            {
                #expect(try row.decode("outcome", as: String.self) == "sent", "hourly ticks never find two thresholds at once")
                found[try row.decode("order_id"), default: []].append(try row.decode("threshold_hours"))
            }
            return found
        }
        let events: [String: Int] = try await pool.withConnection { connection in
            var counts: [String: Int] = [:]
            for row in try connection.query(
                """
                SELECT message_type, count(*)::int AS n FROM outbox
                WHERE message_type LIKE 'event.vps.%' AND (body::jsonb -> 'data' ->> 'orderId') = ANY(string_to_array($1, ','))
                GROUP BY message_type
                """, ids.map { $0.uuidString.uppercased() }.joined(separator: ","))
            {
                counts[try row.decode("message_type"), default: 0] = try row.decode("n")
            }
            return counts
        }
        // Hourly ticks never find two thresholds due at once: every reminder is sent, none skipped.
        // One that cannot pay gets all four; one that pays is renewed inside the last 24 h, after
        // which the old period's later reminders have nothing to remind of (168 and 72, and 24 when
        // the reminder of that tick came before the renewal).
        var wrong = 0
        for order in orders {
            let got = Set(reminders[order.id, default: []])
            let right = order.pays ? got.isSuperset(of: [168, 72]) && got.isSubset(of: [168, 72, 24]) : got == [168, 72, 24, 8]
            if !right || reminders[order.id, default: []].count != got.count { wrong += 1 }
        }
        #expect(wrong == 0, "orders whose reminders break the rule: \(wrong)")
        let sentReminders = reminders.values.reduce(0) { $0 + $1.count }
        let payers = orders.filter(\.pays).count
        #expect(events["event.vps.expiring-soon"] == sentReminders, "one event per reminder sent")
        #expect(events["event.vps.renewed"] == payers, "every paying order renewed once")
        #expect(events["event.vps.renewal-failed"] == 1000 - payers, "told once per period")
        #expect(events["event.vps.suspended"] == 1000 - payers)
        #expect(events["event.vps.terminated"] == 1000 - payers, "24 h after suspension")
        let books: (renewals: Int, badSums: Int) = try await pool.withConnection { connection in
            let renewals: Int = try connection.query(
                """
                SELECT count(*)::int AS n FROM ledger_entries
                WHERE reference_type = 'VPS_RENEWAL' AND customer_id = ANY(string_to_array($1, ','))
                """, orders.map(\.customer).joined(separator: ",")
            ).first!.decode("n")
            let badSums: Int = try connection.query(
                """
                SELECT count(*)::int AS n FROM wallets w
                WHERE w.customer_id = ANY(string_to_array($1, ','))
                  AND w.balance <> (SELECT COALESCE(sum(amount), 0) FROM ledger_entries l WHERE l.customer_id = w.customer_id)
                """, orders.map(\.customer).joined(separator: ",")
            ).first!.decode("n")
            return (renewals, badSums)
        }
        #expect(books.renewals == payers, "each renewal charged once")
        #expect(books.badSums == 0, "every ledger sums to its balance")
        let states: [String: Int] = try await pool.withConnection { connection in
            var counts: [String: Int] = [:]
            for row in try connection.query(
                "SELECT status, count(*)::int AS n FROM orders WHERE id = ANY(string_to_array($1, ',')::uuid[]) GROUP BY status",
                ids.map(\.uuidString).joined(separator: ","))
            {
                counts[try row.decode("status"), default: 0] = try row.decode("n")
            }
            return counts
        }
        #expect(states == ["ACTIVE": payers, "TERMINATED": 1000 - payers])
    }
}
