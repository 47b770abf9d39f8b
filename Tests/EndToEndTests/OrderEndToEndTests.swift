import ArmadaTestSupport
import Curl
import Foundation
import OrdersContracts
import Postgres
import Testing
import WalletContracts

@testable import Provisioning
@testable import Wallet

/// Orders through the public API against the running provisioner and the DigitalOcean simulator.
@Suite("Orders and provisioning, end to end")
struct OrderEndToEndTests {
    let pool = TestDatabase.pool(size: 2, name: "e2e-orders")
    static let basicPlan = "6a1f0c3e-0b7d-5b0e-9a51-000000000001"

    /// A new customer with `balance` in the wallet (credited through the ledger, as an admin
    /// adjustment would be).
    func customer(balance: Int64) async throws -> (String, APIClient) {
        let base = try await RunningSystem.shared.baseURL()
        let customer = TestEnvironment.unique("cust")
        if balance > 0 {
            _ = try await pool.transaction {
                try Ledger.credit(
                    customer, amount: balance, reference: .adminAdjustment, referenceId: "seed-\(customer)", description: "test", on: $0)
            }
        }
        return (customer, APIClient(base: base, token: try await Tokens.make(customer: customer)))
    }

    func order(_ api: APIClient, plan: String = basicPlan, period: String = "MONTHLY", extra: String = "") async throws -> (
        status: Int, body: [String: Any]
    ) {
        let response = try await api.send(
            "POST", "/api/v1/orders", json: #"{"planId":"\#(plan)","image":"ubuntu-24-04-x64","billingPeriod":"\#(period)"\#(extra)}"#,
            idempotencyKey: UUID().uuidString)
        return (response.status, json(response))
    }

    /// Polls the order until `done` holds for it.
    ///
    /// The tests of this suite run in parallel on one DigitalOcean account and one provisioning
    /// queue: an order placed while the 429 test has paused the account, or behind the other
    /// tests' orders, is provisioned after them, and the test run shares two cores with every
    /// other suite. A CI run saw 35 s between paying and the create (when a pause still sent its
    /// waiting orders to the 30 s tier). The default bound allows for such a run; it is a bound,
    /// not a delay.
    func awaitOrder(_ api: APIClient, _ id: String, timeout: Duration = .seconds(120), until done: ([String: Any]) -> Bool) async throws
        -> [String: Any]
    {
        var last: [String: Any] = [:]
        _ = await eventually(timeout: timeout, every: .milliseconds(200)) {
            guard let response = try? await api.send("GET", "/api/v1/orders/\(id)"), response.status == 200 else { return false }
            last = json(response)
            return done(last)
        }
        return last
    }

    func simulatorDroplets(tag: String) async throws -> [[String: Any]] {
        let base = await RunningSystem.shared.digitalOceanURL
        let response = try await CurlClient().send(HTTPRequest(url: base + "/_sim/droplets?tag_name=\(tag)"))
        return json(response)["droplets"] as? [[String: Any]] ?? []
    }

    func simulatorCreates(name: String) async throws -> Int {
        let base = await RunningSystem.shared.digitalOceanURL
        return json(try await CurlClient().send(HTTPRequest(url: base + "/_sim/droplets?name=\(name)")))["creates"] as? Int ?? -1
    }

    func setFaults(_ faults: String) async throws {
        let base = await RunningSystem.shared.digitalOceanURL
        let response = try await CurlClient().send(
            HTTPRequest(
                method: "POST", url: base + "/_sim/faults", headers: [("Content-Type", "application/json")], body: Array(faults.utf8)))
        #expect(response.status == 200)
    }

    func ledger(_ customer: String) async throws -> [(type: String, amount: Int64)] {
        try await pool.withConnection {
            try $0.query("SELECT reference_type, amount FROM ledger_entries WHERE customer_id = $1 ORDER BY id", customer).map {
                (try $0.decode("reference_type"), try $0.decode("amount"))
            }
        }
    }

    @Test("the catalog lists the seed plans with the periods on offer and their monthly equivalents")
    func catalog() async throws {
        let (_, api) = try await customer(balance: 0)
        let plans = json(try await api.send("GET", "/api/v1/plans"))["items"] as? [[String: Any]] ?? []
        let basic = try #require(plans.first { $0["name"] as? String == "basic" })
        let periods = basic["periods"] as? [[String: Any]] ?? []
        #expect(periods.map { $0["billingPeriod"] as? String } == ["MONTHLY", "YEARLY"], "daily is off by default")
        #expect(periods.first { $0["billingPeriod"] as? String == "YEARLY" }?["monthlyEquivalent"] as? Int == 41_667)
        let images = json(try await api.send("GET", "/api/v1/images"))["items"] as? [[String: Any]] ?? []
        #expect(
            Set(images.compactMap { $0["slug"] as? String }).isSuperset(of: [
                "ubuntu-22-04-x64", "ubuntu-24-04-x64", "debian-12-x64", "centos-stream-9-x64",
            ]))
        let regions = json(try await api.send("GET", "/api/v1/regions"))["items"] as? [[String: Any]] ?? []
        #expect(regions.first?["slug"] as? String == "sgp1")
    }

    @Test("a paid monthly order is provisioned: one droplet of the plan's size and the order's image, ACTIVE a month")
    func provisioned() async throws {
        let (customer, api) = try await customer(balance: 120_000)
        let placed = try await order(api, extra: #","hostname":"web-1""#)
        #expect(placed.status == 202)
        let orderId = try #require(placed.body["orderId"] as? String)
        let active = try await awaitOrder(api, orderId) { $0["status"] as? String == "ACTIVE" }
        #expect(active["status"] as? String == "ACTIVE", "order: \(active)")
        #expect(active["price"] as? Int == 50_000)
        #expect((active["publicIpv4"] as? String)?.hasPrefix("203.0.113.") == true)
        #expect(active["dropletStatus"] as? String == "active")
        let formatter = ISO8601DateFormatter()
        let activated = try #require((active["activatedAt"] as? String).flatMap(formatter.date(from:)))
        let expires = try #require((active["expiresAt"] as? String).flatMap(formatter.date(from:)))
        #expect(expires == BillingPeriod.monthly.end(from: activated))
        let history = (active["history"] as? [[String: Any]] ?? []).compactMap { $0["to"] as? String }
        #expect(history == ["PENDING", "PROCESSING", "PROVISIONING", "ACTIVE"])
        let droplets = try await simulatorDroplets(tag: "order-\(orderId)")
        #expect(droplets.count == 1)
        #expect(droplets.first?["name"] as? String == "web-1")
        #expect(droplets.first?["size_slug"] as? String == "s-1vcpu-1gb")
        #expect((droplets.first?["image"] as? [String: Any])?["slug"] as? String == "ubuntu-24-04-x64")
        #expect(Set(droplets.first?["tags"] as? [String] ?? []) == ["armada", "order-\(orderId)"])
        #expect(try await ledger(customer).map(\.type) == ["ADMIN_ADJUSTMENT", "VPS_ORDER"])
        #expect(try await balance(customer, pool) == 70_000)
    }

    @Test("an order the wallet cannot pay fails with INSUFFICIENT_BALANCE: balance, required and deficit; nothing charged")
    func insufficientBalance() async throws {
        let (customer, api) = try await customer(balance: 30_000)
        let placed = try await order(api)
        let command = try await api.awaitCommand(try #require(placed.body["commandId"] as? String))
        #expect(command["status"] as? String == "failed")
        #expect((command["error"] as? [String: Any])?["code"] as? String == "INSUFFICIENT_BALANCE")
        let failed = try await awaitOrder(api, try #require(placed.body["orderId"] as? String)) { $0["status"] as? String == "FAILED" }
        #expect(failed["failureCode"] as? String == "INSUFFICIENT_BALANCE")
        let detail = failed["failureDetail"] as? [String: Any] ?? [:]
        #expect(detail["balance"] as? Int == 30_000 && detail["required"] as? Int == 50_000 && detail["deficit"] as? Int == 20_000)
        #expect(try await balance(customer, pool) == 30_000)
    }

    @Test("what the catalog and the order's state tell is answered at once: 422 codes, 409 for a transition, 404 for another's order")
    func synchronousRefusals() async throws {
        let (_, api) = try await customer(balance: 0)
        #expect(
            errorCode(
                try await api.send(
                    "POST", "/api/v1/orders",
                    json: #"{"planId":"\#(UUID().uuidString)","image":"ubuntu-24-04-x64","billingPeriod":"MONTHLY"}"#,
                    idempotencyKey: UUID().uuidString)) == "PLAN_NOT_FOUND")
        #expect(
            errorCode(
                try await api.send(
                    "POST", "/api/v1/orders", json: #"{"planId":"\#(Self.basicPlan)","image":"windows-11","billingPeriod":"MONTHLY"}"#,
                    idempotencyKey: UUID().uuidString)) == "IMAGE_NOT_FOUND")
        #expect(
            errorCode(
                try await api.send(
                    "POST", "/api/v1/orders",
                    json: #"{"planId":"\#(Self.basicPlan)","image":"ubuntu-24-04-x64","region":"nyc9","billingPeriod":"MONTHLY"}"#,
                    idempotencyKey: UUID().uuidString)) == "REGION_NOT_FOUND")
        let daily = try await api.send(
            "POST", "/api/v1/orders", json: #"{"planId":"\#(Self.basicPlan)","image":"ubuntu-24-04-x64","billingPeriod":"DAILY"}"#,
            idempotencyKey: UUID().uuidString)
        #expect(daily.status == 422 && errorCode(daily) == "BILLING_PERIOD_NOT_ALLOWED")
        // A plan selling daily without a daily price: the period is not offered.
        let planId = UUID()
        try await pool.withConnection {
            try $0.execute(
                """
                INSERT INTO plans (id, name, display_name, vcpu, memory_mb, disk_gb, bandwidth_tb, size_slug, price_monthly, allow_daily)
                VALUES ($1, $2, 'Test', 1, 1024, 25, 1, 's-1vcpu-1gb', 50000, true)
                """, planId, "t-" + planId.uuidString.prefix(8).lowercased())
        }
        let noPrice = try await api.send(
            "POST", "/api/v1/orders", json: #"{"planId":"\#(planId.uuidString)","image":"ubuntu-24-04-x64","billingPeriod":"DAILY"}"#,
            idempotencyKey: UUID().uuidString)
        #expect(noPrice.status == 422 && errorCode(noPrice) == "PRICE_NOT_SET")
        let badHost = try await api.send(
            "POST", "/api/v1/orders",
            json: #"{"planId":"\#(Self.basicPlan)","image":"ubuntu-24-04-x64","billingPeriod":"MONTHLY","hostname":"bad_name!"}"#,
            idempotencyKey: UUID().uuidString)
        #expect(badHost.status == 422 && errorCode(badHost) == "VALIDATION_FAILED")

        // A FAILED order has no droplet: powering it is an invalid transition.
        let placed = try await order(api)
        let orderId = try #require(placed.body["orderId"] as? String)
        _ = try await awaitOrder(api, orderId) { $0["status"] as? String == "FAILED" }
        let power = try await api.send("POST", "/api/v1/orders/\(orderId)/power-off", idempotencyKey: UUID().uuidString)
        #expect(power.status == 409 && errorCode(power) == "INVALID_ORDER_STATE")
        let delete = try await api.send("DELETE", "/api/v1/orders/\(orderId)", idempotencyKey: UUID().uuidString)
        #expect(delete.status == 409 && errorCode(delete) == "INVALID_ORDER_STATE")
        let console = try await api.send("GET", "/api/v1/orders/\(orderId)/console")
        #expect(console.status == 422 && errorCode(console) == "CONSOLE_NOT_AVAILABLE")

        // Another customer's order does not exist for this one.
        let (_, stranger) = try await customer(balance: 0)
        #expect(try await stranger.send("GET", "/api/v1/orders/\(orderId)").status == 404)
        let foreign = try await stranger.send("POST", "/api/v1/orders/\(orderId)/reboot", idempotencyKey: UUID().uuidString)
        #expect(foreign.status == 404 && errorCode(foreign) == "ORDER_NOT_FOUND")
        let list = json(try await stranger.send("GET", "/api/v1/orders"))["items"] as? [[String: Any]]
        #expect(list?.isEmpty == true)
    }

    @Test("a create whose action ends errored: droplet deleted, FAILED, refunded once; an admin retry provisions for one charge net")
    func erroredCreateRefunds() async throws {
        let (customer, api) = try await customer(balance: 50_000)
        let host = "errored-" + UUID().uuidString.prefix(8).lowercased()
        try await setFaults(#"{"erroredCreates":1,"name":"\#(host)"}"#)
        let placed = try await order(api, extra: #","hostname":"\#(host)""#)
        let orderId = try #require(placed.body["orderId"] as? String)
        let failed = try await awaitOrder(api, orderId) { $0["status"] as? String == "FAILED" }
        #expect(failed["failureCode"] as? String == "PROVISIONING_FAILED", "order: \(failed)")
        #expect((failed["failureReason"] as? String)?.contains("errored") == true)
        #expect(try await simulatorDroplets(tag: "order-\(orderId)").isEmpty, "the droplet it created is deleted")
        #expect(try await ledger(customer).map(\.type) == ["ADMIN_ADJUSTMENT", "VPS_ORDER", "PROVISION_FAILED_REFUND"])
        #expect(try await balance(customer, pool) == 50_000)

        // An admin retry provisions it, taking back the refunded price: one charge net, never two.
        let admin = APIClient(base: api.base, token: try await Tokens.make(customer: TestEnvironment.unique("admin"), role: "admin"))
        let retry = try await admin.send("POST", "/api/v1/admin/orders/\(orderId)/retry-provisioning", idempotencyKey: UUID().uuidString)
        #expect(retry.status == 202)
        let active = try await awaitOrder(api, orderId) { $0["status"] as? String == "ACTIVE" }
        #expect(active["status"] as? String == "ACTIVE", "order: \(active)")
        #expect(try await ledger(customer).map(\.type) == ["ADMIN_ADJUSTMENT", "VPS_ORDER", "PROVISION_FAILED_REFUND", "VPS_ORDER"])
        #expect(try await balance(customer, pool) == 0)
        #expect(try await simulatorDroplets(tag: "order-\(orderId)").count == 1)
        let again = try await admin.send("POST", "/api/v1/admin/orders/\(orderId)/retry-provisioning", idempotencyKey: UUID().uuidString)
        #expect(again.status == 409 && errorCode(again) == "INVALID_ORDER_STATE")
    }

    @Test("a droplet with no public IPv4 by the boot timeout is deleted; the order FAILED and refunded once")
    func noAddress() async throws {
        let (customer, api) = try await customer(balance: 50_000)
        let host = "noip-" + UUID().uuidString.prefix(8).lowercased()
        try await setFaults(#"{"noAddressCreates":1,"name":"\#(host)"}"#)
        let placed = try await order(api, extra: #","hostname":"\#(host)""#)
        let orderId = try #require(placed.body["orderId"] as? String)
        let failed = try await awaitOrder(api, orderId) { $0["status"] as? String == "FAILED" }
        #expect(failed["failureCode"] as? String == "PROVISIONING_FAILED", "order: \(failed)")
        #expect((failed["failureReason"] as? String)?.contains("no public IPv4") == true)
        #expect(try await simulatorDroplets(tag: "order-\(orderId)").isEmpty)
        #expect(try await ledger(customer).map(\.type) == ["ADMIN_ADJUSTMENT", "VPS_ORDER", "PROVISION_FAILED_REFUND"])
        #expect(try await balance(customer, pool) == 50_000)
    }

    @Test("a create that succeeded at DigitalOcean but whose answer was lost is adopted by its tag: one droplet, one debit")
    func lostCreateIsAdopted() async throws {
        let (customer, api) = try await customer(balance: 50_000)
        let host = "lost-" + UUID().uuidString.prefix(8).lowercased()
        // DigitalOcean shows the droplet only some seconds after the lost answer: a look right after
        // finds nothing, and only the quiet period keeps a second create from going.
        try await setFaults(#"{"lostCreateResponses":1,"lostCreateVisibleAfterSeconds":11,"name":"\#(host)"}"#)
        let placed = try await order(api, extra: #","hostname":"\#(host)""#)
        let orderId = try #require(placed.body["orderId"] as? String)
        let active = try await awaitOrder(api, orderId, timeout: .seconds(150)) { $0["status"] as? String == "ACTIVE" }
        #expect(active["status"] as? String == "ACTIVE", "order: \(active)")
        let history = (active["history"] as? [[String: Any]] ?? []).compactMap { $0["reason"] as? String }
        #expect(history.contains { $0.contains("adopted") }, "history: \(history)")
        #expect(try await simulatorDroplets(tag: "order-\(orderId)").count == 1)
        #expect(try await simulatorCreates(name: host) == 1, "one create reached DigitalOcean")
        #expect(try await ledger(customer).map(\.type) == ["ADMIN_ADJUSTMENT", "VPS_ORDER"])
    }

    @Test("renew now: one period on from the current expiry, charged once per period; a suspended VPS is ACTIVE again and powered on")
    func renew() async throws {
        let (customer, api) = try await customer(balance: 160_000)
        let placed = try await order(api)
        let orderId = try #require(placed.body["orderId"] as? String)
        let active = try await awaitOrder(api, orderId) { $0["status"] as? String == "ACTIVE" }
        let formatter = ISO8601DateFormatter()
        let expires = try #require((active["expiresAt"] as? String).flatMap(formatter.date(from:)))

        let renewed = json(try await api.send("POST", "/api/v1/orders/\(orderId)/renew", idempotencyKey: UUID().uuidString))
        let command = try await api.awaitCommand(try #require(renewed["commandId"] as? String))
        #expect(command["status"] as? String == "succeeded", "\(command)")
        let after = json(try await api.send("GET", "/api/v1/orders/\(orderId)"))
        let newExpiry = try #require((after["expiresAt"] as? String).flatMap(formatter.date(from:)))
        #expect(newExpiry == BillingPeriod.monthly.end(from: expires), "a month on from the old expiry, not from now")
        let renewals = try await ledger(customer).filter { $0.type == "VPS_RENEWAL" }
        #expect(renewals.map(\.amount) == [-50_000])
        #expect(try await balance(customer, pool) == 60_000)

        // Suspended (as the lifecycle leaves it: powered off) and renewed: ACTIVE, powered on.
        let id = try #require(UUID(uuidString: orderId))
        let off = json(try await api.send("POST", "/api/v1/orders/\(orderId)/power-off", idempotencyKey: UUID().uuidString))
        _ = try await api.awaitCommand(try #require(off["commandId"] as? String))
        _ = try await awaitOrder(api, orderId) { $0["dropletStatus"] as? String == "off" }
        try await pool.withConnection {
            try $0.execute("UPDATE orders SET status = 'SUSPENDED', suspended_at = now() WHERE id = $1", id)
        }
        let again = json(try await api.send("POST", "/api/v1/orders/\(orderId)/renew", idempotencyKey: UUID().uuidString))
        #expect(try await api.awaitCommand(try #require(again["commandId"] as? String))["status"] as? String == "succeeded")
        let back = try await awaitOrder(api, orderId) { $0["status"] as? String == "ACTIVE" && $0["dropletStatus"] as? String == "active" }
        #expect(back["status"] as? String == "ACTIVE" && back["dropletStatus"] as? String == "active", "order: \(back)")
        #expect(back["suspendedAt"] == nil)
        #expect(try await balance(customer, pool) == 10_000)

        // Short of money: refused, nothing changes.
        let short = json(try await api.send("POST", "/api/v1/orders/\(orderId)/renew", idempotencyKey: UUID().uuidString))
        let refused = try await api.awaitCommand(try #require(short["commandId"] as? String))
        #expect((refused["error"] as? [String: Any])?["code"] as? String == "INSUFFICIENT_BALANCE")
        #expect(try await balance(customer, pool) == 10_000)
    }

    @Test("power off and on follow DigitalOcean's action; delete destroys the droplet and terminates the order")
    func powerAndDelete() async throws {
        let (_, api) = try await customer(balance: 50_000)
        let placed = try await order(api)
        let orderId = try #require(placed.body["orderId"] as? String)
        _ = try await awaitOrder(api, orderId) { $0["status"] as? String == "ACTIVE" }
        let off = try await api.send("POST", "/api/v1/orders/\(orderId)/power-off", idempotencyKey: UUID().uuidString)
        #expect(off.status == 202)
        let powered = try await awaitOrder(api, orderId) { $0["dropletStatus"] as? String == "off" }
        #expect(powered["dropletStatus"] as? String == "off")
        #expect((powered["actions"] as? [[String: Any]])?.first?["status"] as? String == "completed")
        _ = try await api.send("POST", "/api/v1/orders/\(orderId)/power-on", idempotencyKey: UUID().uuidString)
        let on = try await awaitOrder(api, orderId) { $0["dropletStatus"] as? String == "active" }
        #expect(on["dropletStatus"] as? String == "active")

        let account = await RunningSystem.shared.accountId
        let delete = try await api.send("DELETE", "/api/v1/orders/\(orderId)", idempotencyKey: UUID().uuidString)
        #expect(delete.status == 202)
        let terminated = try await awaitOrder(api, orderId) { $0["status"] as? String == "TERMINATED" }
        #expect(terminated["terminationReason"] as? String == "USER_DELETED")
        #expect(try await simulatorDroplets(tag: "order-\(orderId)").isEmpty)
        // The account's count gave the droplet back: the order no longer counts, and the count is
        // the account's counted orders (one snapshot; the other tests' orders come and go meanwhile).
        let (counted, consistent): (Bool, Bool) = try await pool.withConnection {
            let row = try $0.query(
                """
                SELECT (SELECT counted FROM orders WHERE id = $2) AS counted,
                       (SELECT active_droplets FROM do_accounts WHERE id = $1)
                         = (SELECT count(*) FROM orders WHERE do_account_id = $1 AND counted) AS consistent
                """, account, UUID(uuidString: orderId)!
            ).first!
            return (try row.decode("counted"), try row.decode("consistent"))
        }
        #expect(!counted, "the terminated order still counts on its account")
        #expect(consistent, "the account's droplet count is not its counted orders")
    }

    @Test("a 429 pauses the account until the burst window passes: no call on its token inside the window; the orders still come up")
    func backsOffOn429() async throws {
        let (_, api) = try await customer(balance: 150_000)
        // On the account the orders use (not the spare one another suite checks without pacing).
        let token = RunningSystem.shared.primaryDigitalOceanToken
        try await setFaults(#"{"rateLimited":2,"token":"\#(token)"}"#)
        // Three orders at once: their creates and looks are the calls a pause must hold back (the
        // suite's other tests add theirs).
        var orderIds: [String] = []
        for _ in 0..<3 { orderIds.append(try #require(try await order(api).body["orderId"] as? String)) }
        for orderId in orderIds {
            let active = try await awaitOrder(api, orderId) { $0["status"] as? String == "ACTIVE" }
            #expect(active["status"] as? String == "ACTIVE", "order: \(active)")
            #expect(try await simulatorDroplets(tag: "order-\(orderId)").count == 1)
        }
        // What the simulator saw on the token: after each 429, nothing until the window is over.
        // Calls already past the pacing when the 429 was answered may still arrive just after it
        // (one provisioner task's 429 cannot stop another's call in flight): 3 s are left for them.
        let base = await RunningSystem.shared.digitalOceanURL
        let seen = json(try await CurlClient().send(HTTPRequest(url: base + "/_sim/requests?token=\(token)")))
        let requests = seen["requests"] as? [Double] ?? []
        let refused = seen["refused"] as? [Double] ?? []
        #expect(refused.count >= 2, "the scripted 429s were answered: \(refused)")
        let window = Double(RunningSystem.shared.rateWindow)
        for at in refused {
            let inside = requests.filter { $0 > at + 3 && $0 < at + window }
            #expect(inside.isEmpty, "calls \(inside.map { $0 - at }) s after a 429, inside the \(window) s window")
        }
    }

    @Test("100 concurrent orders from a wallet that pays for 10: 10 droplets, 90 INSUFFICIENT_BALANCE, the ledger sums to the balance")
    func concurrentOrders() async throws {
        let (customer, api) = try await customer(balance: 500_000)
        // (commandId, orderId) of each accepted order.
        let placed = try await withThrowingTaskGroup(of: (String, String)?.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    let body = try await order(api).body
                    guard let command = body["commandId"] as? String, let order = body["orderId"] as? String else { return nil }
                    return (command, order)
                }
            }
            return try await group.reduce(into: [(String, String)]()) { if let pair = $1 { $0.append(pair) } }
        }
        #expect(placed.count == 100)
        var outcomes: [String: Int] = [:]
        for (commandId, _) in placed {
            let command = try await api.awaitCommand(commandId)
            let key = (command["error"] as? [String: Any])?["code"] as? String ?? (command["status"] as? String ?? "?")
            outcomes[key, default: 0] += 1
        }
        #expect(outcomes == ["succeeded": 10, "INSUFFICIENT_BALANCE": 90])
        #expect(try await balance(customer, pool) == 0)
        let sum = try await ledger(customer).reduce(Int64(0)) { $0 + $1.amount }
        #expect(sum == 0)
        // The 10 paid orders come up, one droplet each.
        let paid = await eventually(timeout: .seconds(120), every: .milliseconds(500)) {
            let active: Int =
                (try? await pool.withConnection {
                    try $0.query("SELECT count(*)::int AS n FROM orders WHERE customer_id = $1 AND status = 'ACTIVE'", customer).first!
                        .decode("n")
                }) ?? 0
            return active == 10
        }
        #expect(paid)
        var droplets = 0
        for (_, orderId) in placed { droplets += try await simulatorDroplets(tag: "order-\(orderId)").count }
        #expect(droplets == 10)
    }
}

/// The admin's catalog and DigitalOcean accounts, through the API.
@Suite("Catalog and DigitalOcean accounts, admin, end to end")
struct AdminCatalogEndToEndTests {
    func admin() async throws -> APIClient {
        APIClient(
            base: try await RunningSystem.shared.baseURL(),
            token: try await Tokens.make(customer: TestEnvironment.unique("admin"), role: "admin"))
    }

    @Test("a plan is created with a period flag on and no price (not offered, PRICE_NOT_SET), priced later, deactivated; names are unique")
    func plans() async throws {
        let admin = try await admin()
        let name = "adm-" + UUID().uuidString.prefix(8).lowercased()
        let created = json(
            try await admin.send(
                "POST", "/api/v1/admin/plans",
                json:
                    #"{"name": "\#(name)", "displayName": "Admin test", "vcpu": 2, "memoryMb": 2048, "diskGb": 60, "bandwidthTb": 3, "sizeSlug": "s-2vcpu-2gb", "priceMonthly": 90000, "allowDaily": true}"#,
                idempotencyKey: UUID().uuidString))
        let command = try await admin.awaitCommand(try #require(created["commandId"] as? String))
        #expect(command["status"] as? String == "succeeded", "\(command)")
        let planId = try #require(created["planId"] as? String)
        let (_, customer) = try await OrderEndToEndTests().customer(balance: 0)
        func offered() async throws -> [String]? {
            let plans = json(try await customer.send("GET", "/api/v1/plans"))["items"] as? [[String: Any]] ?? []
            return (plans.first { $0["id"] as? String == planId }?["periods"] as? [[String: Any]])?.compactMap {
                $0["billingPeriod"] as? String
            }
        }
        #expect(try await offered() == ["MONTHLY"], "daily has no price, yearly no price: only monthly")
        let daily = try await customer.send(
            "POST", "/api/v1/orders", json: #"{"planId":"\#(planId)","image":"ubuntu-24-04-x64","billingPeriod":"DAILY"}"#,
            idempotencyKey: UUID().uuidString)
        #expect(errorCode(daily) == "PRICE_NOT_SET")

        let priced = json(
            try await admin.send(
                "PATCH", "/api/v1/admin/plans/\(planId)", json: #"{"priceDaily": 3500, "allowYearly": false}"#,
                idempotencyKey: UUID().uuidString))
        #expect(try await admin.awaitCommand(try #require(priced["commandId"] as? String))["status"] as? String == "succeeded")
        #expect(try await offered() == ["DAILY", "MONTHLY"])

        let duplicate = json(
            try await admin.send(
                "POST", "/api/v1/admin/plans",
                json:
                    #"{"name": "\#(name)", "displayName": "Again", "vcpu": 1, "memoryMb": 1024, "diskGb": 25, "bandwidthTb": 1, "sizeSlug": "s-1vcpu-1gb"}"#,
                idempotencyKey: UUID().uuidString))
        let refused = try await admin.awaitCommand(try #require(duplicate["commandId"] as? String))
        #expect((refused["error"] as? [String: Any])?["code"] as? String == "PLAN_NAME_TAKEN")

        let removed = json(try await admin.send("DELETE", "/api/v1/admin/plans/\(planId)", idempotencyKey: UUID().uuidString))
        #expect(try await admin.awaitCommand(try #require(removed["commandId"] as? String))["status"] as? String == "succeeded")
        #expect(try await offered() == nil, "an inactive plan is not listed")
        let gone = try await customer.send(
            "POST", "/api/v1/orders", json: #"{"planId":"\#(planId)","image":"ubuntu-24-04-x64","billingPeriod":"MONTHLY"}"#,
            idempotencyKey: UUID().uuidString)
        #expect(errorCode(gone) == "PLAN_NOT_FOUND")
        let all = json(try await admin.send("GET", "/api/v1/admin/plans"))["items"] as? [[String: Any]] ?? []
        #expect(all.first { $0["id"] as? String == planId }?["active"] as? Bool == false)
        #expect(try await customer.send("GET", "/api/v1/admin/plans").status == 403)
    }

    @Test("an account is added only with a token DigitalOcean accepts; it is listed without its token; it can be deactivated")
    func accounts() async throws {
        let admin = try await admin()
        let rejected = json(
            try await admin.send(
                "POST", "/api/v1/admin/do-accounts", json: #"{"name": "bad-\#(UUID().uuidString.prefix(6))", "token": "not-a-token"}"#,
                idempotencyKey: UUID().uuidString))
        let refusal = try await admin.awaitCommand(try #require(rejected["commandId"] as? String))
        #expect((refusal["error"] as? [String: Any])?["code"] as? String == "DO_ACCOUNT_TOKEN_REJECTED", "\(refusal)")

        let token = RunningSystem.shared.spareDigitalOceanToken
        let name = "spare-" + UUID().uuidString.prefix(6).lowercased()
        let added = json(
            try await admin.send(
                "POST", "/api/v1/admin/do-accounts", json: #"{"name": "\#(name)", "token": "\#(token)", "dropletLimit": 3}"#,
                idempotencyKey: UUID().uuidString))
        let command = try await admin.awaitCommand(try #require(added["commandId"] as? String))
        #expect(command["status"] as? String == "succeeded", "\(command)")
        let accountId = try #require(added["accountId"] as? String)
        let listed = try await admin.send("GET", "/api/v1/admin/do-accounts")
        #expect(!String(decoding: listed.body, as: UTF8.self).contains(token), "the token is never shown")
        let account = (json(listed)["items"] as? [[String: Any]])?.first { $0["id"] as? String == accountId }
        #expect(account?["dropletLimit"] as? Int == 3 && account?["health"] as? String == "HEALTHY" && account?["active"] as? Bool == true)
        let pool = TestDatabase.pool(size: 1, name: "e2e-accounts")
        let stored = try await pool.withConnection {
            try $0.query("SELECT token_sealed FROM do_accounts WHERE id = $1", UUID(uuidString: accountId)!).first!.decode(
                "token_sealed", as: [UInt8].self)
        }
        #expect(!String(decoding: stored, as: UTF8.self).contains(token), "stored sealed")
        #expect(try TokenSealer(hexKey: testEncryptionKey).open(stored) == token)

        let again = json(
            try await admin.send(
                "POST", "/api/v1/admin/do-accounts", json: #"{"name": "other-\#(UUID().uuidString.prefix(6))", "token": "\#(token)"}"#,
                idempotencyKey: UUID().uuidString))
        let duplicate = try await admin.awaitCommand(try #require(again["commandId"] as? String))
        #expect((duplicate["error"] as? [String: Any])?["code"] as? String == "DO_ACCOUNT_DUPLICATE")

        let off = json(
            try await admin.send(
                "PATCH", "/api/v1/admin/do-accounts/\(accountId)", json: #"{"active": false}"#, idempotencyKey: UUID().uuidString))
        #expect(try await admin.awaitCommand(try #require(off["commandId"] as? String))["status"] as? String == "succeeded")
        let after = (json(try await admin.send("GET", "/api/v1/admin/do-accounts"))["items"] as? [[String: Any]])?.first {
            $0["id"] as? String == accountId
        }
        #expect(after?["active"] as? Bool == false)
    }
}

/// A load test with its own step in Deploy/local/test.sh, run alone after the other suites so its
/// 300 orders do not starve their timeouts.
@Suite("Provisioning load: orders against the rate limit")
struct ProvisioningLoadTests {
    let pool = TestDatabase.pool(size: 2, name: "e2e-load")

    func order(_ api: APIClient) async throws -> (status: Int, body: [String: Any]) {
        try await OrderEndToEndTests().order(api)
    }

    func simulatorDroplets(tag: String) async throws -> [[String: Any]] {
        try await OrderEndToEndTests().simulatorDroplets(tag: tag)
    }

    func customer(balance: Int64) async throws -> (String, APIClient) {
        try await OrderEndToEndTests().customer(balance: balance)
    }

    @Test(
        "300 orders at once against the burst limit (250 calls a window): all provisioned, no duplicates, no 429 the pacing did not avoid")
    func rateLimited() async throws {
        let (customer, api) = try await customer(balance: 300 * 50_000)
        let before = json(
            try await CurlClient().send(HTTPRequest(url: await RunningSystem.shared.digitalOceanURL + "/_sim/droplets?name=none")))
        let placed = try await withThrowingTaskGroup(of: String?.self) { group in
            for _ in 0..<300 { group.addTask { try await order(api).body["orderId"] as? String } }
            return try await group.reduce(into: [String]()) { if let id = $1 { $0.append(id) } }
        }
        #expect(placed.count == 300)
        let all = await eventually(timeout: .seconds(240), every: .seconds(1)) {
            let active: Int =
                (try? await pool.withConnection {
                    try $0.query("SELECT count(*)::int AS n FROM orders WHERE customer_id = $1 AND status = 'ACTIVE'", customer).first!
                        .decode(
                            "n")
                }) ?? 0
            return active == 300
        }
        #expect(all, "every order ACTIVE")
        var droplets = 0
        for orderId in placed { droplets += try await simulatorDroplets(tag: "order-\(orderId)").count }
        #expect(droplets == 300, "one droplet per order")
        let after = json(
            try await CurlClient().send(HTTPRequest(url: await RunningSystem.shared.digitalOceanURL + "/_sim/droplets?name=none")))
        #expect(after["tooManyRequests"] as? Int == before["tooManyRequests"] as? Int, "the pacing kept every call inside the limit")
        #expect(try await balance(customer, pool) == 0)
    }

}
