import AMQP
import Foundation
import Logging
import Postgres
import ServiceLifecycle
import Synchronization

/// Publishes committed outbox rows with publisher confirms and marks them sent.
///
/// Rows are claimed for `claimDuration` with `FOR UPDATE SKIP LOCKED`, so several relays (one
/// per process) share the work without publishing a row twice at once; rows claimed by a relay
/// that crashed become free again when the claim runs out, and the periodic sweep takes them.
/// A crash between the broker's confirm and marking the row sent publishes it again: consumers
/// deduplicate by message id, so that is harmless.
public final class OutboxRelay: Service, Sendable {
    private let pool: PostgresPool
    private let broker: BrokerClient
    private let logger: Logger
    private let batchSize: Int
    private let sweepInterval: Duration
    private let claimDuration: Duration
    private let doorbell = Doorbell()

    public init(
        pool: PostgresPool, broker: BrokerClient, logger: Logger, batchSize: Int = 200,
        sweepInterval: Duration = .seconds(1), claimDuration: Duration = .seconds(30)
    ) {
        self.pool = pool
        self.broker = broker
        self.logger = logger
        self.batchSize = batchSize
        self.sweepInterval = sweepInterval
        self.claimDuration = claimDuration
    }

    /// Asks for a publish round now (a handler just committed rows).
    public func notify() {
        doorbell.ring()
    }

    public func run() async throws {
        let stopping = StopFlag()
        await withGracefulShutdownHandler {
            while !stopping.isSet {
                await publishPending()
                await doorbell.wait(timeout: sweepInterval)
            }
            // Flush what handlers committed while we were told to stop.
            await publishPending()
        } onGracefulShutdown: {
            stopping.set()
            self.doorbell.ring()
        }
    }

    /// Publishes every publishable row; returns how many were published.
    @discardableResult
    public func publishPending() async -> Int {
        var published = 0
        while true {
            let claimed: [ClaimedRow]
            do {
                claimed = try await claim()
            } catch {
                logger.warning("outbox claim failed", metadata: ["error": "\(error)"])
                break
            }
            if claimed.isEmpty { break }
            let results = await withTaskGroup(of: (Int64, String?).self) { group in
                for row in claimed {
                    group.addTask {
                        do {
                            try await self.broker.publish(
                                exchange: row.exchange, routingKey: row.routingKey,
                                properties: .armada(messageId: row.messageId, type: row.messageType, correlationId: nil),
                                body: Array(row.body.utf8), mandatory: Exchange.requiresRoute(row.exchange))
                            return (row.id, nil)
                        } catch {
                            return (row.id, "\(error)")
                        }
                    }
                }
                return await group.reduce(into: [(Int64, String?)]()) { $0.append($1) }
            }
            let sent = results.filter { $0.1 == nil }.map(\.0)
            let failed = results.compactMap { id, error in error.map { (id, $0) } }
            do {
                try await markSent(sent, failed: failed)
            } catch {
                logger.warning("outbox mark failed; rows will be published again", metadata: ["error": "\(error)"])
            }
            published += sent.count
            RuntimeMetrics.outboxPublished.increment(by: sent.count)
            if !failed.isEmpty {
                logger.warning("outbox publish failed", metadata: ["rows": "\(failed.count)", "error": "\(failed[0].1)"])
                break
            }
        }
        await recordBacklog()
        return published
    }

    struct ClaimedRow: Sendable {
        var id: Int64
        var messageId: UUID
        var exchange: String
        var routingKey: String
        var messageType: String
        var body: String
    }

    private func claim() async throws -> [ClaimedRow] {
        let batchSize = self.batchSize
        let claimSeconds = Double(claimDuration.components.seconds)
        return try await pool.transaction { connection in
            try connection.query(
                """
                UPDATE outbox SET claimed_until = now() + make_interval(secs => $2), attempts = attempts + 1
                WHERE id IN (
                    SELECT id FROM outbox
                    WHERE published_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
                    ORDER BY id LIMIT $1
                    FOR UPDATE SKIP LOCKED)
                RETURNING id, message_id, exchange, routing_key, message_type, body
                """, batchSize, claimSeconds
            ).map { row in
                ClaimedRow(
                    id: try row.decode("id"), messageId: try row.decode("message_id"), exchange: try row.decode("exchange"),
                    routingKey: try row.decode("routing_key"), messageType: try row.decode("message_type"), body: try row.decode("body"))
            }.sorted { $0.id < $1.id }
        }
    }

    private func markSent(_ sent: [Int64], failed: [(Int64, String)]) async throws {
        try await pool.transaction { connection in
            if !sent.isEmpty {
                try connection.execute(
                    "UPDATE outbox SET published_at = now(), claimed_until = NULL WHERE id = ANY($1::bigint[])",
                    "{" + sent.map(String.init).joined(separator: ",") + "}")
            }
            for (id, error) in failed {
                try connection.execute(
                    "UPDATE outbox SET claimed_until = NULL, last_error = $2 WHERE id = $1", id, String(error.prefix(500)))
            }
        }
    }

    private func recordBacklog() async {
        if let backlog = try? await pool.withConnection({ connection in
            try connection.query("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL").first!.decode("n", as: Int.self)
        }) {
            RuntimeMetrics.outboxBacklog.record(backlog)
        }
    }
}

/// A flag set once from a shutdown handler and read by the loop it stops.
final class StopFlag: Sendable {
    private let flag = Mutex(false)
    var isSet: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}
