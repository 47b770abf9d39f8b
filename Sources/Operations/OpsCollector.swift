import AMQP
import Foundation
import Messaging
import Postgres

/// Takes `OpsSnapshot`s: the queues of the bundled topology from the management API when
/// configured (else from passive declares over AMQP), the outbox, flags and the backlog ages
/// from PostgreSQL. Read only, except `queue_backlog`, the sampler's own bookkeeping of since
/// when each queue has held ready messages.
public struct OpsCollector: Sendable {
    public let topology: Topology
    let pool: PostgresPool
    let broker: BrokerClient
    let management: ManagementAPI?
    /// The broker's virtual host (the backlog bookkeeping is per vhost).
    let vhost: String
    /// A backlog older than this is warned about.
    public var oldLimitSeconds: Double = 300

    public init(topology: Topology, pool: PostgresPool, broker: BrokerClient, management: ManagementAPI?, amqpURL: String) {
        self.topology = topology
        self.vhost = ManagementAPI.vhost(ofAMQPURL: amqpURL)
        self.pool = pool
        self.broker = broker
        self.management = management
    }

    /// The collector the environment describes: `RABBITMQ_MANAGEMENT_URL` when set.
    public init(environment: EnvironmentReader, amqpURL: String, pool: PostgresPool, broker: BrokerClient) throws {
        let management = try environment.string("RABBITMQ_MANAGEMENT_URL").map { try ManagementAPI(url: $0, amqpURL: amqpURL) }
        self.init(topology: try Topology.bundled(), pool: pool, broker: broker, management: management, amqpURL: amqpURL)
    }

    /// The queues in the order operators read them: each work queue, then its delay tiers, then
    /// its dead letters.
    public var queueNames: [(name: String, kind: OpsSnapshot.Queue.Kind, work: String, consumer: String?)] {
        topology.queues.flatMap { declaration -> [(String, OpsSnapshot.Queue.Kind, String, String?)] in
            guard let policy = try? topology.policy(for: declaration.name) else { return [] }
            return [(policy.name, .work, policy.name, declaration.consumer)]
                + policy.delayTiersSeconds.map { (policy.delayQueue(seconds: $0), .delay, policy.name, declaration.consumer) }
                + [(policy.deadLetterQueue, .dead, policy.name, declaration.consumer)]
        }
    }

    public func snapshot(at now: Date = Date()) async throws -> OpsSnapshot {
        let names = queueNames
        var stats: [String: ManagementAPI.QueueStats] = [:]
        var source = "amqp"
        if let management {
            // The management API can lag a new queue by its sampling interval: such a queue is
            // read over AMQP below.
            stats = try await management.queues()
            source = "management"
        }
        var counts: [(ready: Int, unacked: Int?, consumers: Int, publish: Double?, deliver: Double?)] = []
        for queue in names {
            if let row = stats[queue.name] {
                counts.append((row.ready, row.unacknowledged, row.consumers, row.publishRate, row.deliverRate))
            } else {
                let status = try await broker.queueStatus(queue.name)
                counts.append((Int(status.messages), nil, Int(status.consumers), nil, nil))
            }
        }
        let nonEmpty = zip(names, counts).filter { $0.1.ready > 0 }.map { $0.0.name }
        let everyName = names.map(\.name)
        let vhost = vhost
        // The broker's figures matter most when PostgreSQL is down: they are shown without the
        // database's (no ages, no outbox, no flags) and a warning says why.
        var database = DatabaseView(readyFor: [:], outbox: nil, flags: [:], recent: [])
        var databaseWarning: String?
        do {
            database = try await pool.withConnection { connection in
                try Self.readDatabase(vhost: vhost, nonEmpty: nonEmpty, all: everyName, on: connection)
            }
        } catch {
            databaseWarning = "PostgreSQL did not answer (\(error)): no backlog ages, outbox or flags in this snapshot"
        }
        let queues = zip(names, counts).map { queue, count in
            OpsSnapshot.Queue(
                name: queue.name, kind: queue.kind, workQueue: queue.work, consumer: queue.consumer, ready: count.ready,
                unacknowledged: count.unacked, consumers: count.consumers, publishRate: count.publish, deliverRate: count.deliver,
                oldestReadySeconds: count.ready > 0 ? database.readyFor[queue.name] : nil)
        }
        return OpsSnapshot(
            takenAt: now, brokerSource: source, queues: queues, outbox: database.outbox, depositFlags: database.flags,
            recentFlags: database.recent,
            warnings: [databaseWarning].compactMap { $0 }
                + OpsSnapshot.warnings(queues: queues, outbox: database.outbox, oldLimit: oldLimitSeconds))
    }

    struct DatabaseView: Sendable {
        var readyFor: [String: Double]
        var outbox: OpsSnapshot.Outbox?
        var flags: [String: Int]
        var recent: [OpsSnapshot.FlaggedDeposit]
    }

    /// A sighting older than this (no sampler ran in between) is not continued.
    static let maxGapSeconds = 120.0

    /// Records which queues hold ready messages now (a queue keeps its first sighting while it
    /// stays non-empty and is sampled at least every `maxGapSeconds`; an empty one loses its row;
    /// after a longer gap the sighting starts again), then reads every figure, in one
    /// transaction. Samplers (every ingress, armadactl) take turns on an advisory lock, so two
    /// never lock the rows in opposite orders.
    static func readDatabase(vhost: String, nonEmpty: [String], all: [String], on connection: PGConnection) throws -> DatabaseView {
        try connection.transaction { connection in
            _ = try connection.query("SELECT pg_advisory_xact_lock(hashtext('armada.queue_backlog')) IS NULL AS locked")
            _ = try connection.execute(
                "DELETE FROM queue_backlog WHERE vhost = $1 AND queue = ANY($2::text[]) AND NOT (queue = ANY($3::text[]))",
                vhost, PostgresArray(all), PostgresArray(nonEmpty))
            _ = try connection.execute(
                """
                INSERT INTO queue_backlog (vhost, queue, ready_since, observed_at)
                SELECT $1, q, now(), now() FROM unnest($2::text[]) AS q
                ON CONFLICT (vhost, queue) DO UPDATE SET
                    ready_since = CASE WHEN queue_backlog.observed_at < now() - make_interval(secs => $3)
                                       THEN now() ELSE queue_backlog.ready_since END,
                    observed_at = now()
                """, vhost, PostgresArray(nonEmpty), maxGapSeconds)
            var readyFor: [String: Double] = [:]
            for row in try connection.query(
                "SELECT queue, extract(epoch FROM now() - ready_since)::float8 AS seconds FROM queue_backlog WHERE vhost = $1", vhost
            ) {
                readyFor[try row.decode("queue")] = try row.decode("seconds")
            }
            let outboxRow = try connection.query(
                """
                SELECT (count(*) FILTER (WHERE attempts < $1))::int AS backlog,
                       (count(*) FILTER (WHERE attempts >= $1))::int AS stuck,
                       extract(epoch FROM now() - min(created_at) FILTER (WHERE attempts < $1))::float8 AS oldest
                FROM outbox WHERE published_at IS NULL
                """, OutboxRelay.defaultMaxRefusals
            ).first
            let outbox = OpsSnapshot.Outbox(
                backlog: try outboxRow?.decode("backlog") ?? 0, oldestSeconds: try outboxRow?.decode("oldest", as: Double?.self),
                stuck: try outboxRow?.decode("stuck") ?? 0)
            var flags: [String: Int] = [:]
            for row in try connection.query("SELECT flag, count(*)::int AS n FROM deposit_flags GROUP BY flag") {
                flags[try row.decode("flag")] = try row.decode("n")
            }
            let recent = try connection.query(
                """
                SELECT f.id, f.flag, f.detail, f.created_at, d.id AS deposit_id, d.customer_id, d.reference, d.status, d.amount
                FROM deposit_flags f JOIN deposits d ON d.id = f.deposit_id ORDER BY f.id DESC LIMIT 20
                """
            ).map { row in
                OpsSnapshot.FlaggedDeposit(
                    flagId: try row.decode("id"), flag: try row.decode("flag"), detail: try row.decode("detail"),
                    flaggedAt: try row.decode("created_at"), depositId: try row.decode("deposit_id"),
                    customerId: try row.decode("customer_id"), reference: try row.decode("reference"), status: try row.decode("status"),
                    amount: try row.decode("amount"))
            }
            return DatabaseView(readyFor: readyFor, outbox: outbox, flags: flags, recent: recent)
        }
    }
}
