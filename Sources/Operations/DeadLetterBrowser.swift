import AMQP
import Foundation
import Messaging

/// Walks a work queue's dead letters with `basic.get`, selects some by type, error or id, and
/// shows, replays or discards the selected ones. Every letter it does not act on is handed back
/// (`nack` with requeue) before it returns, so a filtered walk never loses what it left alone.
///
/// The dead-letter queues are declared without a delivery limit, and on RabbitMQ 3.x a requeue
/// never counts against one. RabbitMQ 4.0 gave quorum queues a default limit of 20, so a letter
/// looked at often could be dropped there: Docs/deploy.md names the supported versions.
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

    /// The walk's connection went away (the client reconnected): the letters it held return to
    /// the queue by themselves, and their delivery tags mean nothing on the new connection.
    public struct ConnectionChanged: Error, CustomStringConvertible {
        public var actedOn: Int
        public var description: String {
            "the broker connection dropped during the walk after \(actedOn) letter(s) were acted on; the others are back in the queue: run it again"
        }
    }

    /// Acts on up to `limit` letters matching `filter`; returns them. `progress` is called with
    /// the number acted on so far and the number looked at.
    public func run(
        _ action: Action, filter: Filter, limit: Int, at now: Date = Date(), progress: @Sendable (Int, Int) -> Void = { _, _ in }
    ) async throws -> [DeadLetter] {
        var selected: [DeadLetter] = []
        var handBack: [UInt64] = []
        var looked = 0
        // Every tag belongs to the connection its `basic.get` ran on; an ack or nack on another
        // one would be refused (406) or, worse, settle another delivery.
        var walkConnection: ObjectIdentifier?
        func onWalkConnection<T: Sendable>(_ operation: @escaping @Sendable (AMQPConnection) throws -> T) async throws -> T {
            let expected = walkConnection
            return try await client.perform { connection in
                guard expected == nil || ObjectIdentifier(connection) == expected else { throw ConnectionChanged(actedOn: 0) }
                return try operation(connection)
            }
        }
        do {
            while selected.count < limit {
                let queue = policy.deadLetterQueue
                let got = try await onWalkConnection { connection in
                    (try connection.get(queue: queue), ObjectIdentifier(connection))
                }
                walkConnection = got.1
                guard let message = got.0 else { break }
                looked += 1
                let letter = DeadLetter(message.properties, body: message.body)
                let tag = message.deliveryTag
                guard filter.matches(letter) else {
                    handBack.append(tag)
                    continue
                }
                switch action {
                case .show:
                    handBack.append(tag)
                case .replay:
                    var properties = message.properties
                    for key in DeadLetters.runtimeHeaders { properties.headers[key] = nil }
                    properties.headers["x-replayed-at"] = .string(ISO8601DateFormatter().string(from: now))
                    // Published with a confirm before the letter is acknowledged: a crash in
                    // between leaves a copy in both places, and the inbox makes the copy a no-op.
                    do {
                        try await client.publish(exchange: "", routingKey: policy.name, properties: properties, body: message.body)
                    } catch {
                        handBack.append(tag)
                        throw error
                    }
                    try await onWalkConnection { try $0.ack(tag) }
                case .discard:
                    try await onWalkConnection { try $0.ack(tag) }
                }
                selected.append(letter)
                if selected.count % 100 == 0 { progress(selected.count, looked) }
            }
        } catch is ConnectionChanged {
            throw ConnectionChanged(actedOn: selected.count)
        } catch {
            try? await giveBack(handBack, on: onWalkConnection)
            throw error
        }
        try await giveBack(handBack, on: onWalkConnection)
        progress(selected.count, looked)
        return selected
    }

    private func giveBack(
        _ tags: [UInt64], on walkConnection: (@escaping @Sendable (AMQPConnection) throws -> Void) async throws -> Void
    ) async throws {
        guard !tags.isEmpty else { return }
        try await walkConnection { connection in
            for tag in tags { try connection.nack(tag, requeue: true) }
        }
    }
}
