import Foundation

/// What an operator looks at, taken at one moment: every queue of the topology, the outbox,
/// dead letters and the deposits flagged for a person. `armadactl queues`, the ops page
/// (`GET /api/v1/admin/ops`) and the Prometheus gauges all read this one shape.
public struct OpsSnapshot: Codable, Sendable, Equatable {
    public struct Queue: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable { case work, delay, dead }
        public var name: String
        public var kind: Kind
        /// The work queue this one belongs to (itself for a work queue).
        public var workQueue: String
        /// The executable that consumes the work queue (Queues/topology.json).
        public var consumer: String?
        public var ready: Int
        /// Delivered and not yet acknowledged; nil without the management API.
        public var unacknowledged: Int?
        public var consumers: Int
        /// Messages per second over the broker's last sampling interval; nil without the
        /// management API.
        public var publishRate: Double?
        public var deliverRate: Double?
        /// How long the queue has continuously held ready messages, as sampled (an upper bound
        /// on its oldest message's age, to within the sampling interval); nil when empty.
        public var oldestReadySeconds: Double?
    }

    public struct Outbox: Codable, Sendable, Equatable {
        /// Rows not yet published that the relays still try.
        public var backlog: Int
        /// Age of the oldest of those rows; nil when there is none.
        public var oldestSeconds: Double?
        /// Unpublished rows the broker refused 50 times or more (no relay tries them any more).
        public var stuck: Int
    }

    public struct FlaggedDeposit: Codable, Sendable, Equatable {
        public var flagId: Int64
        public var flag: String
        public var detail: String
        public var flaggedAt: Date
        public var depositId: UUID
        public var customerId: String
        public var reference: String?
        public var status: String
        public var amount: Int64
    }

    public var takenAt: Date
    /// `management` (RabbitMQ's management API) or `amqp` (passive declares: no unacknowledged
    /// counts, no rates).
    public var brokerSource: String
    public var queues: [Queue]
    /// Nil when PostgreSQL did not answer (a warning says so).
    public var outbox: Outbox?
    /// Every flag ever raised, by flag (flags are never overwritten; the alert watches increases).
    public var depositFlags: [String: Int]
    /// The latest flags, newest first.
    public var recentFlags: [FlaggedDeposit]
    /// What needs a person now, in words (empty when all is well).
    public var warnings: [String]

    /// Dead letters waiting, over every dead-letter queue.
    public var deadLetters: Int { queues.filter { $0.kind == .dead }.reduce(0) { $0 + $1.ready } }
}

extension OpsSnapshot {
    /// The warnings an operator must see: work without a worker, dead letters, a backlog older
    /// than `oldLimit`, outbox rows stuck or old.
    static func warnings(queues: [Queue], outbox: Outbox?, oldLimit: Double) -> [String] {
        var warnings: [String] = []
        for queue in queues {
            switch queue.kind {
            case .work:
                if queue.ready > 0, queue.consumers == 0 {
                    // "armada-notifier.telegram" is the notifier's Telegram consumer: name the executable.
                    let executable = queue.consumer.flatMap { $0.split(separator: ".").first.map(String.init) } ?? "its worker"
                    warnings.append("\(queue.name) holds \(queue.ready) message(s) and has no consumer: is \(executable) running?")
                }
                if let age = queue.oldestReadySeconds, age > oldLimit {
                    warnings.append("\(queue.name) has held ready messages for \(Int(age)) s: its workers do not keep up")
                }
            case .dead:
                if queue.ready > 0 {
                    warnings.append(
                        "\(queue.name) holds \(queue.ready) dead letter(s): armadactl dead-letters list --queue \(queue.workQueue)")
                }
            case .delay: break
            }
        }
        guard let outbox else { return warnings }
        if outbox.stuck > 0 {
            warnings.append("\(outbox.stuck) outbox row(s) stuck (the broker refused them 50 times): see outbox.last_error")
        }
        if let age = outbox.oldestSeconds, age > oldLimit {
            warnings.append("the oldest unpublished outbox row is \(Int(age)) s old: is any worker's relay running?")
        }
        return warnings
    }
}
