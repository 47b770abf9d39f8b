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
/// deduplicate by message id, so that is harmless. A row the broker refuses (a full queue, no
/// route) backs off on its own and does not hold up the rows behind it.
///
/// On graceful shutdown it publishes what is committed one last time and returns; on
/// cancellation it returns at once.
public final class OutboxRelay: Service, Sendable {
    private let pool: PostgresPool
    private let broker: BrokerClient
    private let logger: Logger
    private let batchSize: Int
    private let sweepInterval: Duration
    private let sweepGrace: Duration
    private let claimDuration: Duration
    /// Refusals (nack, no route) after which a row is left for an operator (about four hours
    /// with the backoff), alerted by `armada_outbox_stuck` and an error log.
    private let maxRefusals: Int
    public static let defaultMaxRefusals = 50
    private let doorbell = Doorbell()

    public init(
        pool: PostgresPool, broker: BrokerClient, logger: Logger, batchSize: Int = 200,
        sweepInterval: Duration = .seconds(1), sweepGrace: Duration = .seconds(2), claimDuration: Duration = .seconds(30),
        maxRefusals: Int = OutboxRelay.defaultMaxRefusals
    ) {
        self.pool = pool
        self.broker = broker
        self.logger = logger
        self.batchSize = batchSize
        self.sweepInterval = sweepInterval
        self.sweepGrace = sweepGrace
        self.claimDuration = claimDuration
        self.maxRefusals = maxRefusals
    }

    /// Asks for a publish round now (a handler just committed rows).
    public func notify() {
        doorbell.ring()
    }

    public func run() async throws {
        let stopping = StopFlag()
        await withGracefulShutdownHandler {
            // A sweep (the timer, or the first run) takes only rows older than `sweepGrace`: a fresh
            // row is its writer's to publish — that process's relay was rung by its commit — and
            // the sweep is for rows a crashed or stalled process left behind.
            var sweeping = true
            while !stopping.isSet && !Task.isCancelled {
                await publishPending(minimumAge: sweeping ? sweepGrace : .zero)
                let started = ContinuousClock.now
                await doorbell.wait(timeout: sweepInterval)
                sweeping = ContinuousClock.now - started >= sweepInterval
            }
            // Flush what handlers committed before we were told to stop, while the broker
            // connection is still open (it closes after this service in every process).
            if !Task.isCancelled {
                let flushed = await publishPending()
                logger.debug("outbox flushed on shutdown", metadata: ["published": "\(flushed)"])
            }
        } onGracefulShutdown: {
            stopping.set()
            self.doorbell.ring()
        }
    }

    /// Publishes every publishable row; returns how many were published.
    @discardableResult
    public func publishPending(minimumAge: Duration = .zero) async -> Int {
        var published = 0
        while !Task.isCancelled {
            let claimed: [Outbox.Row]
            do {
                let (limit, seconds, cap) = (batchSize, Int(claimDuration.components.seconds), maxRefusals)
                let age = Double(minimumAge.components.seconds) + Double(minimumAge.components.attoseconds) / 1e18
                claimed = try await pool.transaction {
                    try Outbox.claim(limit: limit, seconds: seconds, maxRefusals: cap, minimumAge: age, on: $0)
                }
            } catch {
                logger.warning("outbox claim failed", metadata: ["error": "\(error)"])
                break
            }
            if claimed.isEmpty { break }
            let results = await withTaskGroup(of: (Int64, AMQPError?).self) { group in
                for row in claimed {
                    group.addTask {
                        do {
                            try await self.broker.publish(
                                exchange: row.exchange, routingKey: row.routingKey,
                                properties: .armada(messageId: row.messageId, type: row.messageType, correlationId: row.correlationId),
                                body: Array(row.body.utf8), mandatory: Exchange.requiresRoute(row.exchange))
                            return (row.id, nil)
                        } catch let error as AMQPError {
                            return (row.id, error)
                        } catch {
                            return (row.id, AMQPError(.closed, "\(error)"))
                        }
                    }
                }
                return await group.reduce(into: [(Int64, AMQPError?)]()) { $0.append($1) }
            }
            let sent = results.filter { $0.1 == nil }.map(\.0)
            let failed = results.compactMap { id, error in error.map { (id, $0) } }
            do {
                let cap = maxRefusals
                let givenUp = try await pool.transaction { connection -> [Int64] in
                    try Outbox.markPublished(sent, on: connection)
                    return try failed.filter { id, error in
                        try Outbox.markFailed(id, error: "\(error)", refused: error.isRefusal, on: connection) >= cap
                    }.map(\.0)
                }
                for id in givenUp {
                    logger.error(
                        "outbox row refused \(maxRefusals) times; left for an operator",
                        metadata: ["outbox_id": "\(id)", "message_id": "\(claimed.first { $0.id == id }?.messageId.uuidString ?? "?")"])
                }
            } catch {
                logger.warning("outbox mark failed; rows will be published again", metadata: ["error": "\(error)"])
            }
            published += sent.count
            RuntimeMetrics.outboxPublished.increment(by: sent.count)
            if let (_, error) = failed.first {
                logger.warning("outbox publish failed", metadata: ["rows": "\(failed.count)", "error": "\(error)"])
                // Without a connection the next round waits for the sweep; a refusal of some
                // rows (they back off) does not stop the others.
                if failed.contains(where: { !$0.1.isRefusal }) { break }
            }
        }
        await recordBacklog()
        return published
    }

    private func recordBacklog() async {
        let cap = maxRefusals
        if let backlog = try? await pool.withConnection({ try Outbox.backlog(maxRefusals: cap, on: $0) }) {
            RuntimeMetrics.outboxBacklog.record(backlog.unpublished)
            RuntimeMetrics.outboxStuck.record(backlog.stuck)
        }
    }
}

extension AMQPError {
    /// The broker answered and said no to this message (nack, no route): other messages may pass.
    var isRefusal: Bool {
        switch kind {
        case .nacked, .unroutable: return true
        default: return false
        }
    }
}

/// A flag set once from a shutdown handler and read by the loop it stops.
final class StopFlag: Sendable {
    private let flag = Mutex(false)
    var isSet: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}
