import AMQP
import Foundation

extension Exchange {
    /// Whether a message on `exchange` must reach a queue: a command nobody consumes is a broken
    /// deployment; an event without subscribers is not.
    public static func requiresRoute(_ exchange: String) -> Bool {
        exchange != Exchange.events
    }
}

extension MessageProperties {
    /// The AMQP properties every Armada message carries, repeating the envelope's id and type
    /// for tools.
    public static func armada(messageId: UUID, type: String, correlationId: String?) -> MessageProperties {
        MessageProperties(
            messageId: messageId.uuidString.lowercased(), correlationId: correlationId, type: type,
            timestamp: UInt64(Date().timeIntervalSince1970))
    }
}

extension BrokerClient {
    /// Publishes an envelope to its type's exchange under its type as routing key, and returns
    /// once the broker confirmed it.
    public func publish<Body: MessageBody>(_ envelope: Envelope<Body>) async throws {
        try await publish(
            exchange: Body.exchange, routingKey: Body.messageType,
            properties: .armada(messageId: envelope.id, type: Body.messageType, correlationId: envelope.correlationId),
            body: try envelope.encoded(), mandatory: Exchange.requiresRoute(Body.exchange))
    }
}
