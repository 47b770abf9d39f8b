import AMQP
import Foundation
import Messaging

/// Walks a work queue's dead letters with `basic.get`, selects some by type, error or id, and
/// shows, replays or discards the selected ones. Every letter it does not act on is handed back
/// (`nack` with requeue) before it returns, so a filtered walk never loses or reorders what it
/// left alone beyond RabbitMQ's own requeue order.
public struct DeadLetterBrowser: Sendable {
    public struct Filter: Sendable {
        public var type: String?
        /// A case-insensitive part of the error text (`x-error`).
        public var error: String?
        public var messageId: String?

        public init(type: String? = nil, error: String? = nil, messageId: String? = nil) {
            self.type = type
            self.error = error
            self.messageId = messageId
        }

        func matches(_ letter: DeadLetter) -> Bool {
            if let type, letter.type != type { return false }
            if let messageId, letter.messageId != messageId { return false }
            if let error, !(letter.error ?? "").lowercased().contains(error.lowercased()) { return false }
            return true
        }
    }

    /// One dead letter as operators read it.
    public struct DeadLetter: Sendable, Codable {
        public var messageId: String?
        public var type: String?
        public var error: String?
        public var errorClass: String?
        public var attempts: String?
        public var deadLetteredAt: String?
        public var originalExchange: String?
        public var originalRoutingKey: String?
        public var headers: [String: String]
        public var body: String

        init(_ properties: MessageProperties, body bytes: [UInt8]) {
            let h = properties.headers
            messageId = properties.messageId
            type = properties.type
            error = h["x-error"]?.stringValue
            errorClass = h["x-error-class"]?.stringValue
            attempts = h["x-attempts"]?.stringValue
            deadLetteredAt = h["x-dead-lettered-at"]?.stringValue
            originalExchange = h["x-original-exchange"]?.stringValue
            originalRoutingKey = h["x-original-routing-key"]?.stringValue
            headers = h.reduce(into: [:]) { $0[$1.key] = $1.value.description }
            body = String(decoding: bytes, as: UTF8.self)
        }
    }

    public enum Action: Sendable { case show, replay, discard }

    let client: BrokerClient
    let policy: QueuePolicy

    public init(client: BrokerClient, policy: QueuePolicy) {
        self.client = client
        self.policy = policy
    }

    /// Acts on up to `limit` letters matching `filter`; returns them. `progress` is called with
    /// the number acted on so far and the number looked at.
    public func run(
        _ action: Action, filter: Filter, limit: Int, at now: Date = Date(), progress: @Sendable (Int, Int) -> Void = { _, _ in }
    ) async throws -> [DeadLetter] {
        var selected: [DeadLetter] = []
        var handBack: [UInt64] = []
        var looked = 0
        do {
            while selected.count < limit, let message = try await client.perform({ [policy] in try $0.get(queue: policy.deadLetterQueue) })
            {
                looked += 1
                let letter = DeadLetter(message.properties, body: message.body)
                guard filter.matches(letter) else {
                    handBack.append(message.deliveryTag)
                    continue
                }
                let tag = message.deliveryTag
                switch action {
                case .show:
                    handBack.append(tag)
                case .replay:
                    var properties = message.properties
                    for key in DeadLetters.runtimeHeaders { properties.headers[key] = nil }
                    properties.headers["x-replayed-at"] = .string(ISO8601DateFormatter().string(from: now))
                    // Published with a confirm before the letter is acknowledged: a crash in
                    // between leaves a copy in both places, and the inbox makes the copy a no-op.
                    try await client.publish(exchange: "", routingKey: policy.name, properties: properties, body: message.body)
                    try await client.perform { try $0.ack(tag) }
                case .discard:
                    try await client.perform { try $0.ack(tag) }
                }
                selected.append(letter)
                if selected.count % 100 == 0 { progress(selected.count, looked) }
            }
        } catch {
            try? await giveBack(handBack)
            throw error
        }
        try await giveBack(handBack)
        progress(selected.count, looked)
        return selected
    }

    private func giveBack(_ tags: [UInt64]) async throws {
        guard !tags.isEmpty else { return }
        try await client.perform { connection in
            for tag in tags { try connection.nack(tag, requeue: true) }
        }
    }
}
