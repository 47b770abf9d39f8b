import AMQP
import ArmadaTestSupport
import Foundation
import Glibc
import Messaging
import Postgres
import Testing
import WalletContracts

@testable import Wallet

/// Payments workers on one queue under a steady load of PAID callbacks, stopped one at a time
/// and all together (issue 14). Every stop must end within the deadline, and when the load has
/// drained every callback must have credited its deposit exactly once, with every outbox row
/// published.
struct ScaleIn {
    /// The shutdown deadline the workers get; a stop must end within it plus the 5 s the process
    /// gives cancellation.
    static let deadlineSeconds = 8
    static let stopBound: Duration = .seconds(deadlineSeconds + 6)

    let amqpURL: String
    let pool = TestDatabase.pool(size: 4, name: "e2e-scale-in")
    let customer = TestEnvironment.unique("scale")
    var workers: [ChildProcess] = []
    private(set) var references: [String] = []

    init(amqpURL: String) {
        self.amqpURL = amqpURL
    }

    /// Starts workers and waits until each has reached its own code (it logs "starting" once its
    /// signal handling is in place): a signal before that is the kernel's default action, which
    /// no program can turn into a graceful stop.
    mutating func startWorkers(_ count: Int) async throws {
        for _ in 0..<count {
            let (worker, _, _) = try launch(
                "armada-payments", amqpURL: amqpURL,
                extra: ["ARMADA_SHUTDOWN_DEADLINE_SECONDS": "\(Self.deadlineSeconds)", "ARMADA_LOG_LEVEL": "info"])
            guard await eventually(timeout: .seconds(30), { worker.log.contains("armada-payments starting") }) else {
                throw TestFailure("a worker did not start: \(worker.log)")
            }
            workers.append(worker)
        }
    }

    /// Records `count` PENDING deposits and publishes a PAID callback for each (a tenth twice,
    /// as Tripay's resends would be), confirmed by the broker.
    mutating func publishLoad(_ count: Int, on broker: BrokerClient) async throws {
        let customer = customer
        let batch = (0..<count).map { _ in "T0001SCALE" + UUID().uuidString.prefix(12).uppercased() }
        try await pool.transaction { connection in
            for reference in batch {
                try Deposits.insert(
                    NewDeposit(
                        id: UUID(), customerId: customer, amount: 10_000, fee: 0, method: "BRIVA", reference: reference,
                        expiresAt: Date().addingTimeInterval(86_400)),
                    on: connection)
            }
        }
        references += batch
        for (index, reference) in batch.enumerated() {
            let envelope = callback(reference)
            try await broker.publish(envelope)
            if index % 10 == 0 { try await broker.publish(envelope) }
        }
    }

    func callback(_ reference: String) -> Envelope<TripayCallbackReceived> {
        let (body, _) = signedCallback(reference: reference, total: 10_000, received: 10_000)
        return Envelope(
            id: TripayCallbackReceived.messageID(reference: reference, status: "PAID"),
            data: TripayCallbackReceived(rawBody: String(decoding: body, as: UTF8.self), receivedAt: Date()), occurredAt: Date(),
            correlationId: reference)
    }

    /// SIGTERM to `stopping`, all at once; returns each one's exit status and how long it took.
    static func stop(_ stopping: [ChildProcess]) async -> [(status: Int32?, took: Duration, log: String)] {
        let started = ContinuousClock.now
        for worker in stopping { worker.signal(SIGTERM) }
        var results: [(Int32?, Duration, String)] = []
        for worker in stopping {
            let status = await worker.wait(timeout: stopBound + .seconds(5))
            results.append((status, ContinuousClock.now - started, status == 0 ? "" : String(worker.log.suffix(6000))))
            if status == nil { worker.signal(SIGKILL) }
        }
        return results
    }

    /// Whatever was in flight when the workers stopped is finished by a fresh worker; then the
    /// books are checked, the fresh worker stopped, and the events the load caused cleared.
    mutating func drainWithFreshWorkerAndVerify(broker: BrokerClient) async throws {
        workers = []
        try await startWorkers(1)
        try await verifyExactlyOnce()
        for result in await Self.stop(workers) { #expect(result.status == 0) }
        for queue in ["armada.email", "armada.telegram"] { _ = try? await broker.perform { try $0.purgeQueue(queue) } }
        await broker.close()
    }

    /// Waits for the load to drain, then checks exactly-once: every deposit PAID and credited by
    /// one DEPOSIT entry, the customer's balance their sum, one DEPOSIT_PAID outbox row each, all
    /// published.
    func verifyExactlyOnce(timeout: Duration = .seconds(90)) async throws {
        let customer = customer
        let expected = references.count
        let drained = await eventually(timeout: timeout, every: .milliseconds(200)) {
            let counts = try? await pool.withConnection { connection -> (Int, Int) in
                let paid: Int =
                    try connection.query(
                        "SELECT count(*)::int AS n FROM deposits WHERE customer_id = $1 AND status = 'PAID'", customer
                    ).first?.decode("n") ?? 0
                let unpublished: Int =
                    try connection.query(
                        """
                        SELECT count(*)::int AS n FROM outbox
                        WHERE message_type = 'event.deposit.paid' AND published_at IS NULL AND body LIKE '%' || $1 || '%'
                        """, customer
                    ).first?.decode("n") ?? 0
                return (paid, unpublished)
            }
            return counts.map { $0.0 == expected && $0.1 == 0 } ?? false
        }
        #expect(drained, "every deposit paid and every outbox row published")
        let (entries, distinct, balance, events) = try await pool.withConnection { connection -> (Int, Int, Int64, Int) in
            guard
                let row = try connection.query(
                    """
                    SELECT count(*)::int AS entries, count(DISTINCT reference_id)::int AS distinct_refs
                    FROM ledger_entries WHERE customer_id = $1 AND reference_type = 'DEPOSIT'
                    """, customer
                ).first,
                let events = try connection.query(
                    "SELECT count(*)::int AS n FROM outbox WHERE message_type = 'event.deposit.paid' AND body LIKE '%' || $1 || '%'",
                    customer
                ).first
            else { throw TestFailure("no rows") }
            return (
                try row.decode("entries"), try row.decode("distinct_refs"), try Ledger.balance(of: customer, on: connection),
                try events.decode("n")
            )
        }
        #expect(entries == expected, "one DEPOSIT entry per deposit")
        #expect(distinct == expected)
        #expect(balance == Int64(expected) * 10_000)
        #expect(events == expected, "one DEPOSIT_PAID per deposit")
    }
}
