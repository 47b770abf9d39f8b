import AMQP
import ArmadaQueues
import Foundation

/// The exchanges, queues, bindings, delay tiers and dead-letter queues, as declared in
/// `Queues/topology.json`. Applying it is idempotent; every process does so at start.
public struct Topology: Codable, Sendable {
    public struct ExchangeDeclaration: Codable, Sendable {
        public var name: String
        public var type: String
        public var description: String?
    }

    public struct Defaults: Codable, Sendable {
        public var deliveryLimit: Int
        public var maxAttempts: Int
        public var delayTiersSeconds: [Int]
    }

    public struct Binding: Codable, Sendable, Equatable {
        public var exchange: String
        public var routingKey: String

        public init(exchange: String, routingKey: String) {
            self.exchange = exchange
            self.routingKey = routingKey
        }
    }

    public struct QueueDeclaration: Codable, Sendable {
        public var name: String
        public var consumer: String?
        public var bindings: [Binding]
        public var deliveryLimit: Int?
        public var maxAttempts: Int?
        public var delayTiersSeconds: [Int]?

        public init(
            name: String, consumer: String? = nil, bindings: [Binding], deliveryLimit: Int? = nil, maxAttempts: Int? = nil,
            delayTiersSeconds: [Int]? = nil
        ) {
            self.name = name
            self.consumer = consumer
            self.bindings = bindings
            self.deliveryLimit = deliveryLimit
            self.maxAttempts = maxAttempts
            self.delayTiersSeconds = delayTiersSeconds
        }
    }

    public var version: Int
    public var exchanges: [ExchangeDeclaration]
    public var defaults: Defaults
    public var queues: [QueueDeclaration]

    /// The topology shipped in `Queues/topology.json`.
    public static func bundled() throws -> Topology {
        try JSONDecoder().decode(Topology.self, from: Data(topologyJSON))
    }

    /// A copy holding only `queues` (with the same exchanges and defaults); tests use it to
    /// declare queues of their own.
    public func with(queues: [QueueDeclaration]) -> Topology {
        var copy = self
        copy.queues = queues
        return copy
    }

    /// The resolved retry and dead-letter policy of a queue.
    public func policy(for queue: String) throws -> QueuePolicy {
        guard let declaration = queues.first(where: { $0.name == queue }) else {
            throw TopologyError.unknownQueue(queue)
        }
        return QueuePolicy(
            name: declaration.name,
            maxAttempts: declaration.maxAttempts ?? defaults.maxAttempts,
            delayTiersSeconds: declaration.delayTiersSeconds ?? defaults.delayTiersSeconds,
            deliveryLimit: declaration.deliveryLimit ?? defaults.deliveryLimit)
    }

    /// Declares everything. Re-declaring with the same arguments is a no-op; with different
    /// ones the broker refuses (406), which surfaces a drifted topology at start.
    public func apply(on connection: AMQPConnection) throws {
        for exchange in exchanges {
            try connection.declareExchange(exchange.name, type: exchange.type)
        }
        for declaration in queues {
            let policy = try policy(for: declaration.name)
            try connection.declareQueue(policy.deadLetterQueue, type: .quorum)
            try connection.declareQueue(
                policy.name, type: .quorum,
                arguments: [
                    // The last guard against a poison message: the broker dead-letters it.
                    "x-delivery-limit": .int(Int64(policy.deliveryLimit)),
                    "x-dead-letter-exchange": .string(""),
                    "x-dead-letter-routing-key": .string(policy.deadLetterQueue),
                ])
            for binding in declaration.bindings {
                try connection.bindQueue(policy.name, exchange: binding.exchange, routingKey: binding.routingKey)
            }
            for seconds in policy.delayTiersSeconds {
                // A delay tier holds a message for its TTL, then dead-letters it back to the work queue.
                try connection.declareQueue(
                    policy.delayQueue(seconds: seconds), type: .classic,
                    arguments: [
                        "x-message-ttl": .int(Int64(seconds) * 1000),
                        "x-dead-letter-exchange": .string(""),
                        "x-dead-letter-routing-key": .string(policy.name),
                    ])
            }
        }
    }
}

public enum TopologyError: Error, CustomStringConvertible {
    case unknownQueue(String)

    public var description: String {
        switch self {
        case .unknownQueue(let name): return "queue \(name) is not in the topology"
        }
    }
}

/// How a work queue retries and where its dead letters go.
public struct QueuePolicy: Sendable, Equatable {
    public var name: String
    /// Handler runs in total (first try included) before a transient failure is dead-lettered.
    public var maxAttempts: Int
    public var delayTiersSeconds: [Int]
    public var deliveryLimit: Int

    public init(name: String, maxAttempts: Int, delayTiersSeconds: [Int], deliveryLimit: Int) {
        self.name = name
        self.maxAttempts = maxAttempts
        self.delayTiersSeconds = delayTiersSeconds
        self.deliveryLimit = deliveryLimit
    }

    public var deadLetterQueue: String { "\(name).dead" }

    public func delayQueue(seconds: Int) -> String { "\(name).delay.\(seconds)s" }

    public var allQueues: [String] {
        [name, deadLetterQueue] + delayTiersSeconds.map { delayQueue(seconds: $0) }
    }

    /// What to do after the `failedAttempts`-th transient failure: wait in a delay tier (the
    /// n-th failure uses the n-th tier, the last tier repeats), or give up.
    public func afterTransientFailure(failedAttempts: Int) -> RetryDecision {
        guard failedAttempts < maxAttempts, !delayTiersSeconds.isEmpty else { return .deadLetter }
        let tier = delayTiersSeconds[min(failedAttempts - 1, delayTiersSeconds.count - 1)]
        return .retry(delayQueue: delayQueue(seconds: tier), delaySeconds: tier)
    }
}

public enum RetryDecision: Sendable, Equatable {
    case retry(delayQueue: String, delaySeconds: Int)
    case deadLetter
}
