import AMQP
import Foundation

/// Brings an existing broker to the bundled topology (`armadactl topology apply`).
///
/// A queue whose arguments changed (a classic delay tier that is now a quorum queue, a new
/// dead-letter strategy) cannot be re-declared: the broker refuses with 406. Such a queue is
/// recreated, but only when it is empty and unconsumed, or when `force` is given; with `force`
/// its messages wait in a holding queue meanwhile and are moved back, so none is lost.
public struct TopologyMigration: Sendable {
    public struct Report: Sendable {
        /// Queues that had to be recreated, with the messages moved through the holding queue.
        public var recreated: [(queue: String, movedMessages: Int)] = []
        /// Queues left alone because they hold messages or have consumers (run with `force`).
        public var refused: [(queue: String, messages: UInt32, consumers: UInt32)] = []
    }

    public let topology: Topology

    public init(topology: Topology) {
        self.topology = topology
    }

    /// `client` must not declare the topology on connect (a plain client).
    public func run(on client: BrokerClient, force: Bool) async throws -> Report {
        var report = Report()
        for exchange in topology.exchanges {
            try await client.perform { try $0.declareExchange(exchange.name, type: exchange.type) }
        }
        let shapes = try topology.queueShapes()
        // An interrupted run may have left messages in a holding queue: they go home first.
        for shape in shapes where try await Self.exists(Self.holding(shape.name), on: client) {
            if try await client.perform({ try $0.declareQueueIfCompatible(shape.name, type: .quorum, arguments: shape.arguments) }) {
                try await Self.unbind(Self.holding(shape.name), shape.bindings, on: client)
                try await Self.drain(Self.holding(shape.name), into: shape.name, on: client)
            }
        }
        for shape in shapes {
            if try await client.perform({ try $0.declareQueueIfCompatible(shape.name, type: .quorum, arguments: shape.arguments) }) {
                continue
            }
            let status = try await client.queueStatus(shape.name)
            guard force || (status.messages == 0 && status.consumers == 0) else {
                report.refused.append((shape.name, status.messages, status.consumers))
                continue
            }
            report.recreated.append((shape.name, try await Self.rebuild(shape, on: client)))
        }
        try await client.perform { try topology.apply(on: $0) }
        return report
    }

    /// Rebuilds one queue with its new arguments, its messages kept: while it is rebuilt, a
    /// holding queue with the same bindings takes what is published, and takes its messages.
    static func rebuild(_ shape: Topology.QueueShape, on client: BrokerClient) async throws -> Int {
        let holding = holding(shape.name)
        try await client.perform { connection in
            try connection.declareQueue(holding, type: .quorum)
            for binding in shape.bindings {
                try connection.bindQueue(holding, exchange: binding.exchange, routingKey: binding.routingKey)
                try connection.unbindQueue(shape.name, exchange: binding.exchange, routingKey: binding.routingKey)
            }
        }
        // What arrives by name while it drains (a retry, a dead letter) is drained too.
        let moved = try await moveUntilEmpty(from: shape.name, to: holding, on: client)
        try await client.perform { try $0.deleteQueue(shape.name) }
        try await client.perform { connection in
            try connection.declareQueue(shape.name, type: .quorum, arguments: shape.arguments)
            for binding in shape.bindings {
                try connection.bindQueue(shape.name, exchange: binding.exchange, routingKey: binding.routingKey)
            }
        }
        try await unbind(holding, shape.bindings, on: client)
        try await drain(holding, into: shape.name, on: client)
        return moved
    }

    static func holding(_ name: String) -> String { "\(name).migrating" }

    static func exists(_ queue: String, on client: BrokerClient) async throws -> Bool {
        do {
            _ = try await client.queueStatus(queue)
            return true
        } catch let error as AMQPError where error.kind == .notFound {
            return false
        }
    }

    static func unbind(_ queue: String, _ bindings: [Topology.Binding], on client: BrokerClient) async throws {
        try await client.perform { connection in
            for binding in bindings {
                try connection.unbindQueue(queue, exchange: binding.exchange, routingKey: binding.routingKey)
            }
        }
    }

    /// Moves everything from `holding` into `target`, then deletes `holding`.
    static func drain(_ holding: String, into target: String, on client: BrokerClient) async throws {
        _ = try await moveUntilEmpty(from: holding, to: target, on: client)
        try await client.perform { try $0.deleteQueue(holding) }
    }

    /// Moves until the broker reports the source empty. Quorum queues cannot be deleted
    /// "if empty"; with its bindings gone, only a message sent to the queue by name can arrive
    /// between this check and the delete — which is why `--force` wants the queue's workers
    /// stopped (runbook, Topology changes).
    static func moveUntilEmpty(from source: String, to target: String, on client: BrokerClient) async throws -> Int {
        var moved = 0
        repeat {
            moved += try await move(from: source, to: target, on: client)
        } while try await client.queueStatus(source).messages > 0
        return moved
    }

    /// Moves every message, one confirmed publish before each ack, so a crash duplicates at
    /// worst (the inbox absorbs that) and never loses.
    static func move(from source: String, to target: String, on client: BrokerClient) async throws -> Int {
        var moved = 0
        while let message = try await client.perform({ try $0.get(queue: source) }) {
            try await client.publish(exchange: "", routingKey: target, properties: message.properties, body: message.body)
            let tag = message.deliveryTag
            try await client.perform { try $0.ack(tag) }
            moved += 1
        }
        return moved
    }
}

/// Dead letters of a work queue: replayed to the work queue they died in.
public enum DeadLetters {
    /// Headers the runtime adds on the way to the dead-letter queue, removed on replay.
    public static let runtimeHeaders = [
        "x-error", "x-error-class", "x-attempts", "x-attempt", "x-again", "x-last-error", "x-dead-lettered-at", "x-original-queue",
        "x-original-exchange", "x-original-routing-key", "x-death", "x-first-death-queue", "x-first-death-reason",
        "x-first-death-exchange", "x-last-death-queue", "x-last-death-reason", "x-last-death-exchange", "x-delivery-count",
    ]

    /// Publishes up to `limit` dead letters of `policy`'s queue straight back to that queue (the
    /// default exchange, so no other queue bound to the original routing key gets a copy), with a
    /// fresh attempt count. Works the same for letters the runtime wrote and for those the broker
    /// dead-lettered on its delivery limit: `Q.dead` only ever receives from `Q`.
    public static func replay(_ policy: QueuePolicy, on client: BrokerClient, limit: Int, at now: Date) async throws -> Int {
        var replayed = 0
        while replayed < limit, let message = try await client.perform({ try $0.get(queue: policy.deadLetterQueue) }) {
            var properties = message.properties
            for key in runtimeHeaders { properties.headers[key] = nil }
            properties.headers["x-replayed-at"] = .string(ISO8601DateFormatter().string(from: now))
            try await client.publish(exchange: "", routingKey: policy.name, properties: properties, body: message.body)
            let tag = message.deliveryTag
            try await client.perform { try $0.ack(tag) }
            replayed += 1
        }
        return replayed
    }
}
