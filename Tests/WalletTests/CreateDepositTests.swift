import ArmadaTestSupport
import Curl
import Foundation
import Glibc
import Logging
import Messaging
import Postgres
import Testing
import Tripay
import WalletContracts

@testable import Wallet

/// Creating deposits against a Tripay simulator that, like Tripay, makes a new transaction for
/// every create (no deduplication of merchant_ref).
@Suite("Deposit creation: one Tripay transaction per deposit, the fee checked", .serialized, .timeLimit(.minutes(2)))
struct CreateDepositTests {
    static let apiKey = "DEV-create-test-fake-api-key"
    static let privateKey = "create-test-fake-private-key"
    let pool = TestDatabase.pool(size: 4, name: "create-deposit-tests")

    func withSimulator(_ body: (TripayClient, String) async throws -> Void) async throws {
        let (sim, base) = try await Peers.tripaySimulator(apiKey: Self.apiKey, privateKey: Self.privateKey)
        defer { sim.signal(SIGKILL) }
        let client = TripayClient(
            configuration: TripayConfiguration(baseURL: base, apiKey: Self.apiKey, privateKey: Self.privateKey, merchantCode: "T0001"))
        try await body(client, base)
    }

    func command(method: String = "BRIVA") -> Envelope<CreateDeposit> {
        let commandId = UUID()
        return Envelope(
            id: commandId,
            data: CreateDeposit(
                depositId: CreateDeposit.depositId(for: commandId), customerId: TestEnvironment.unique("cust"), amount: 150_000,
                method: method, promoCode: nil),
            occurredAt: Date(), commandId: commandId)
    }

    func run(_ handler: CreateDepositHandler, _ envelope: Envelope<CreateDeposit>) async throws -> AtomicPhase.Outcome {
        try await AtomicPhase.run(
            AnyMessageHandler(handler), envelope, consumer: "armada-payments", pool: pool, logger: Logger(label: "t"))
    }

    @Test("the same command delivered twice at once calls Tripay once: one transaction, one deposit")
    func concurrentDeliveries() async throws {
        try await withSimulator { tripay, _ in
            let handler = CreateDepositHandler(tripay: tripay, policy: DepositPolicy())
            let envelope = command()
            let outcomes = try await withThrowingTaskGroup(of: AtomicPhase.Outcome.self) { group in
                for _ in 0..<2 { group.addTask { try await run(handler, envelope) } }
                return try await group.reduce(into: [AtomicPhase.Outcome]()) { $0.append($1) }
            }
            #expect(outcomes.filter { if case .applied = $0 { return true } else { return false } }.count == 1, "\(outcomes)")
            #expect(
                outcomes.allSatisfy {
                    switch $0 {
                    case .applied, .duplicate, .again: return true
                    default: return false
                    }
                }, "\(outcomes)")
            let merchantRef = Deposit.merchantRef(for: envelope.data.depositId)
            #expect(try await tripay.transactions(merchantRef: merchantRef).count == 1)
            // The one that waited runs again later: a no-op.
            #expect(try await run(handler, envelope) == .duplicate)
            #expect(try await tripay.transactions(merchantRef: merchantRef).count == 1)
        }
    }

    @Test("a delivery after the deposit was recorded (its inbox row pruned) finds the deposit and never calls Tripay again")
    func recordedDepositIsNotCreatedAgain() async throws {
        try await withSimulator { tripay, _ in
            let handler = CreateDepositHandler(tripay: tripay, policy: DepositPolicy())
            let envelope = command()
            #expect(try await run(handler, envelope) == .applied(sent: 0))
            let id = envelope.id
            try await pool.withConnection { try $0.execute("DELETE FROM inbox WHERE message_id = $1", id) }
            #expect(try await run(handler, envelope) == .applied(sent: 0))
            #expect(try await tripay.transactions(merchantRef: Deposit.merchantRef(for: envelope.data.depositId)).count == 1)
        }
    }

    @Test("after a crash that followed Tripay's answer, the next attempt adopts that transaction instead of creating another")
    func adoptsAfterCrash() async throws {
        try await withSimulator { tripay, _ in
            let handler = CreateDepositHandler(tripay: tripay, policy: DepositPolicy())
            let envelope = command()
            let depositId = envelope.data.depositId
            let merchantRef = Deposit.merchantRef(for: depositId)
            // What a crashed first attempt leaves: its recorded attempt (lease run out) and a
            // transaction at Tripay that nobody recorded.
            let earlier = try await tripay.createTransaction(
                method: "BRIVA", merchantRef: merchantRef, amount: 150_000, customerName: "c", customerEmail: "c@example.test",
                customerPhone: nil, orderItems: [TripayOrderItem(sku: "WALLET-TOPUP", name: "Top up saldo", price: 150_000, quantity: 1)],
                callbackURL: nil, returnURL: nil, expiresAt: Date().addingTimeInterval(86_400))
            try await pool.withConnection { connection in
                try connection.execute(
                    "INSERT INTO tripay_creates (deposit_id, merchant_ref, attempts, leased_until) VALUES ($1, $2, 1, now() - interval '1 second')",
                    depositId, merchantRef)
            }
            #expect(try await run(handler, envelope) == .applied(sent: 0))
            let deposit = try await pool.withConnection { try Deposits.find(id: depositId, on: $0) }
            #expect(deposit?.reference == earlier.reference, "the earlier transaction was adopted")
            #expect(try await tripay.transactions(merchantRef: merchantRef).count == 1, "no second transaction at Tripay")
            let intents = try await pool.withConnection {
                try $0.query("SELECT count(*)::int AS n FROM tripay_creates WHERE deposit_id = $1", depositId).first?.decode(
                    "n", as: Int.self)
            }
            #expect(intents == 0, "the finished create is no longer recorded as in progress")
        }
    }

    @Test("a fee Tripay computed otherwise than the channel rule refuses the deposit, recorded FAILED and flagged")
    func feeMismatchRefused() async throws {
        try await withSimulator { tripay, base in
            let raised = try await CurlClient().send(
                HTTPRequest(method: "POST", url: base + "/_sim/settings?fee_surcharge_channel=BCAVA&fee_surcharge=500"))
            #expect(raised.status == 200)
            let handler = CreateDepositHandler(tripay: tripay, policy: DepositPolicy())
            // The channel cache is shared; make sure it knows BCAVA as the simulator lists it.
            try await PaymentChannels.refresh(pool: pool, tripay: tripay)
            let envelope = command(method: "BCAVA")
            let outcome = try await run(handler, envelope)
            guard case .rejected(let code, let message) = outcome else {
                Issue.record("not refused: \(outcome)")
                return
            }
            #expect(code == .depositFeeMismatch)
            #expect(message.contains("6000") && message.contains("5500"), "\(message)")
            let depositId = envelope.data.depositId
            let deposit = try await pool.withConnection { try Deposits.find(id: depositId, on: $0) }
            #expect(deposit?.status == .failed)
            let customer = envelope.data.customerId
            let view = try await pool.withConnection { try Deposits.view(depositId, customerId: customer, on: $0) }
            #expect(view?.payCode == nil && view?.checkoutUrl == nil && view?.qrString == nil, "a refused deposit shows no way to pay it")
            #expect(try await pool.withConnection { try Deposits.flags(depositId, on: $0) }.map(\.flag) == ["FEE_MISMATCH"])
        }
    }
}

@Suite("Reconciliation rule (pure)")
struct ReconcileDecisionTests {
    let expiry = Date(timeIntervalSince1970: 1_764_000_000)
    let grace = Duration.seconds(1800)

    @Test("what Tripay says decides; UNPAID expires only past expiry plus grace; a failed lookup changes nothing")
    func table() {
        let before = expiry.addingTimeInterval(-60)
        let inGrace = expiry.addingTimeInterval(1799)
        let after = expiry.addingTimeInterval(1800)
        #expect(ReconcileDecision.decide(tripayStatus: "PAID", expiresAt: expiry, now: before, grace: grace) == .publish(.paid))
        #expect(ReconcileDecision.decide(tripayStatus: "EXPIRED", expiresAt: expiry, now: before, grace: grace) == .publish(.expired))
        #expect(ReconcileDecision.decide(tripayStatus: "FAILED", expiresAt: expiry, now: before, grace: grace) == .publish(.failed))
        #expect(ReconcileDecision.decide(tripayStatus: "UNPAID", expiresAt: expiry, now: before, grace: grace) == .wait)
        #expect(ReconcileDecision.decide(tripayStatus: "UNPAID", expiresAt: expiry, now: inGrace, grace: grace) == .wait)
        #expect(ReconcileDecision.decide(tripayStatus: "UNPAID", expiresAt: expiry, now: after, grace: grace) == .publish(.expired))
        #expect(
            ReconcileDecision.decide(tripayStatus: nil, expiresAt: expiry, now: after.addingTimeInterval(86_400), grace: grace) == .wait)
        #expect(ReconcileDecision.decide(tripayStatus: "SOMETHING_NEW", expiresAt: expiry, now: after, grace: grace) == .wait)
    }
}

@Suite("Reconciliation claims against a real PostgreSQL")
struct ReconcileClaimTests {
    let pool = TestDatabase.pool(size: 2, name: "reconcile-claims")

    struct Rollback: Error { var claimed: Set<UUID>; var ids: [String: UUID] }

    /// Records deposits and claims, in one transaction that is rolled back: the running system's
    /// reconciler (which shares this database) neither sees nor disturbs them. Returns the names
    /// of the claimed ones.
    func claimed(_ deposits: [(name: String, status: DepositStatus, expiresIn: TimeInterval, flags: [DepositFlag])], limit: Int)
        async throws -> (names: Set<String>, total: Int)
    {
        do {
            try await pool.transaction { connection in
                var ids: [String: UUID] = [:]
                for deposit in deposits {
                    let id = UUID()
                    ids[deposit.name] = id
                    try Deposits.insert(
                        NewDeposit(
                            id: id, customerId: TestEnvironment.unique("cust"), amount: 50_000, fee: 0, method: "BRIVA",
                            reference: "T0001CLAIM" + UUID().uuidString.prefix(10), expiresAt: Date().addingTimeInterval(deposit.expiresIn)),
                        status: deposit.status, on: connection)
                    for flag in deposit.flags { try Deposits.flag(id, flag, on: connection) }
                }
                let now = Date()
                let claimed = try Deposits.claimForReconciliation(
                    olderThan: now.addingTimeInterval(3600), now: now, interval: .seconds(60), maxBackoff: .seconds(3600),
                    grace: .seconds(1800), limit: limit, on: connection)
                throw Rollback(claimed: Set(claimed.map(\.id)), ids: ids)
            }
        } catch let rollback as Rollback {
            return (Set(rollback.ids.filter { rollback.claimed.contains($0.value) }.keys), rollback.claimed.count)
        }
        return ([], 0)
    }

    @Test("flagged and terminal deposits are not polled; canceled and failed ones are until expiry plus grace; a round is bounded")
    func whatIsPolled() async throws {
        let day: TimeInterval = 86_400
        let deposits: [(name: String, status: DepositStatus, expiresIn: TimeInterval, flags: [DepositFlag])] = [
            ("pending", .pending, day, []),
            ("duplicate", .pending, day, [.multipleTripayTransactions]),
            ("duplicate-then-mismatch", .pending, day, [.multipleTripayTransactions, .amountMismatch]),
            ("mismatch", .pending, day, [.amountMismatch]),
            ("paid", .paid, day, []),
            ("expired", .expired, day, []),
            ("canceled", .canceled, day, []),
            ("failed-fee", .failed, day, [.feeMismatch]),
            ("canceled-long-ago", .canceled, -7200, []),
        ]
        #expect(try await claimed(deposits, limit: 100_000).names == ["pending", "duplicate", "canceled", "failed-fee"])
        // At least four are due in that transaction; a round of two claims two.
        #expect(try await claimed(deposits, limit: 2).total == 2)
    }
}
