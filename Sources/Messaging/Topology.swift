import AMQP
import ArmadaQueues
import Foundation

/// The exchanges, queues, bindings, delay tiers and dead-letter queues, as declared in
/// `Queues/topology.json`. Applying it is idempotent; every process does so at start.
///
/// Every queue is a quorum queue. Work queues and delay tiers dead-letter at least once
/// (`x-dead-letter-strategy: at-least-once`, which needs `x-overflow: reject-publish`), so a
/// message is never lost on its way to a delay tier, back from it, or to the dead-letter queue.
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
        /// The process (worker name) that consumes it.
        public var consumer: String?
        public var bindings: [Binding]
        public var deliveryLimit: Int?
        public var maxAttempts: Int?
        public var delayTiersSeconds: [Int]?
        /// A bound on ready messages, for queues fed by events whose consumer may not be
        /// deployed yet: past it the broker refuses new publishes instead of filling its disk.
        public var maxLength: Int?

        public init(
            name: String, consumer: String? = nil, bindings: [Binding], deliveryLimit: Int? = nil, maxAttempts: Int? = nil,
            delayTiersSeconds: [Int]? = nil, maxLength: Int? = nil
        ) {
            self.name = name
            self.consumer = consumer
            self.bindings = bindings
            self.deliveryLimit = deliveryLimit
            self.maxAttempts = maxAttempts
            self.delayTiersSeconds = delayTiersSeconds
            self.maxLength = maxLength
        }
    }

    /// A binding an earlier topology had and this one removes: unbound on every apply.
    public struct RetiredBinding: Codable, Sendable, Equatable {
        public var queue: String
        public var exchange: String
        public var routingKey: String
        public var why: String?
    }

    public var version: Int
    public var exchanges: [ExchangeDeclaration]
    public var defaults: Defaults
    public var queues: [QueueDeclaration]
    public var retiredBindings: [RetiredBinding]?

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
            deliveryLimit: declaration.deliveryLimit ?? defaults.deliveryLimit, maxLength: declaration.maxLength)
    }

    /// The work queues whose bindings route `routingKey` published to `exchange`.
    public func queues(routing routingKey: String, on exchange: String) -> [QueueDeclaration] {
        queues.filter { queue in
            queue.bindings.contains { $0.exchange == exchange && TopicPattern.matches($0.routingKey, routingKey) }
        }
    }

    public struct QueueShape: Sendable {
        public var name: String
        public var arguments: [String: HeaderValue]
        public var bindings: [Binding]
    }

    /// Every queue with its arguments and bindings. Per work queue: its dead-letter queue, its
    /// delay tiers, then the work queue itself — the order a migration must take, so that no
    /// queue is rebuilt while another still dead-letters into it at most once.
    public func queueShapes() throws -> [QueueShape] {
        try queues.flatMap { declaration -> [QueueShape] in
            let policy = try policy(for: declaration.name)
            return [QueueShape(name: policy.deadLetterQueue, arguments: policy.deadLetterQueueArguments, bindings: [])]
                + policy.delayTiersSeconds.map {
                    QueueShape(name: policy.delayQueue(seconds: $0), arguments: policy.delayQueueArguments(seconds: $0), bindings: [])
                }
                + [QueueShape(name: policy.name, arguments: policy.workQueueArguments, bindings: declaration.bindings)]
        }
    }

    /// Declares everything; returns the queues that exist with other arguments (the broker
    /// refuses to re-declare them, 406), which keep working as they are until
    /// `armadactl topology apply` migrates them. Re-declaring with the same arguments is a no-op.
    @discardableResult
    public func apply(on connection: AMQPConnection) throws -> [String] {
        for exchange in exchanges {
            try connection.declareExchange(exchange.name, type: exchange.type)
        }
        var drifted: [String] = []
        for shape in try queueShapes() {
            if !(try connection.declareQueueIfCompatible(shape.name, type: .quorum, arguments: shape.arguments)) {
                drifted.append(shape.name)
            }
            for binding in shape.bindings {
                try connection.bindQueue(shape.name, exchange: binding.exchange, routingKey: binding.routingKey)
            }
        }
        // Unbinding what is not bound is a no-op for the broker; the queues exist by now.
        for retired in retiredBindings ?? [] where queues.contains(where: { $0.name == retired.queue }) {
            try connection.unbindQueue(retired.queue, exchange: retired.exchange, routingKey: retired.routingKey)
        }
        return drifted
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

/// AMQP topic matching: `*` one word, `#` zero or more words.
public enum TopicPattern {
    public static func matches(_ pattern: String, _ key: String) -> Bool {
        match(
            pattern.split(separator: ".", omittingEmptySubsequences: false)[...],
            key.split(separator: ".", omittingEmptySubsequences: false)[...])
    }

    private static func match(_ pattern: ArraySlice<Substring>, _ key: ArraySlice<Substring>) -> Bool {
        guard let head = pattern.first else { return key.isEmpty }
        if head == "#" {
            return match(pattern.dropFirst(), key) || (!key.isEmpty && match(pattern, key.dropFirst()))
        }
        guard let word = key.first else { return false }
        return (head == "*" || head == word) && match(pattern.dropFirst(), key.dropFirst())
    }
}

/// How a work queue retries and where its dead letters go.
public struct QueuePolicy: Sendable, Equatable {
    public var name: String
    /// Handler runs in total (first try included) before a transient failure is dead-lettered.
    public var maxAttempts: Int
    public var delayTiersSeconds: [Int]
    public var deliveryLimit: Int
    public var maxLength: Int?

    public init(name: String, maxAttempts: Int, delayTiersSeconds: [Int], deliveryLimit: Int, maxLength: Int? = nil) {
        self.name = name
        self.maxAttempts = maxAttempts
        self.delayTiersSeconds = delayTiersSeconds
        self.deliveryLimit = deliveryLimit
        self.maxLength = maxLength
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

    /// The tier a message that asked to run again after `delay` waits in: the longest tier not
    /// longer than the delay, or the shortest tier when every tier is longer.
    ///
    /// "Again" means "look again": every handler that returns it checks, when it runs, whether
    /// what it waits for has come (a droplet up, a pause over, a lease free) and asks again for
    /// the rest if not; a rate limit's pause is recorded in Postgres and checked there, so an
    /// early look never reaches the provider. Rounding down makes a wait end a little early and
    /// look again; rounding up (as this did at first) turned a 7 s pause into 30 s and
    /// DigitalOcean's 60 s rate-limit pause into 300 s for every order waiting on the account.
    public func delayTier(forAbout delay: Duration) -> (queue: String, seconds: Int)? {
        let sorted = delayTiersSeconds.sorted()
        guard let shortest = sorted.first else { return nil }
        let seconds = sorted.last { Duration.seconds($0) <= delay } ?? shortest
        return (delayQueue(seconds: seconds), seconds)
    }

    var workQueueArguments: [String: HeaderValue] {
        var arguments: [String: HeaderValue] = [
            // The last guard against a poison message: the broker dead-letters it.
            "x-delivery-limit": .int(Int64(deliveryLimit)),
            "x-dead-letter-exchange": .string(""),
            "x-dead-letter-routing-key": .string(deadLetterQueue),
            "x-dead-letter-strategy": .string("at-least-once"),
            "x-overflow": .string("reject-publish"),
        ]
        if let maxLength { arguments["x-max-length"] = .int(Int64(maxLength)) }
        return arguments
    }

    var deadLetterQueueArguments: [String: HeaderValue] { [:] }

    /// A delay tier holds a message for its TTL, then dead-letters it (at least once) back to
    /// the work queue.
    func delayQueueArguments(seconds: Int) -> [String: HeaderValue] {
        [
            "x-message-ttl": .int(Int64(seconds) * 1000),
            "x-dead-letter-exchange": .string(""),
            "x-dead-letter-routing-key": .string(name),
            "x-dead-letter-strategy": .string("at-least-once"),
            "x-overflow": .string("reject-publish"),
        ]
    }
}

public enum RetryDecision: Sendable, Equatable {
    case retry(delayQueue: String, delaySeconds: Int)
    case deadLetter
}
