import AMQP
import Crypto
import Foundation
import Logging
import Messaging
import Postgres

/// Accepts an API command: derives its id from (customer, Idempotency-Key), records it as
/// pending (or finds it recorded), refuses a reused key with another request, and publishes the
/// message with a confirm. Only bookkeeping is written here; the business effect is the worker's.
struct CommandGateway: Sendable {
    let pool: PostgresPool
    let broker: BrokerClient
    let logger: Logger

    static func commandId(customerId: String, idempotencyKey: String) -> UUID {
        MessageID.derive("command", customerId, idempotencyKey)
    }

    /// Returns the command id once the broker confirmed the message.
    func submit<Body: MessageBody>(
        _ makeBody: (UUID) -> Body, customerId: String, idempotencyKey: String, requestFingerprint: [UInt8]
    ) async throws -> UUID {
        let commandId = Self.commandId(customerId: customerId, idempotencyKey: idempotencyKey)
        let hash = SHA256.hash(data: requestFingerprint).map { String(format: "%02x", $0) }.joined()
        let type = Body.messageType
        let recordedHash = try await pool.transaction { connection in
            try Commands.recordPending(
                commandId, customerId: customerId, idempotencyKey: idempotencyKey, type: type, requestHash: hash, on: connection)
        }
        guard recordedHash == hash else {
            throw APIError(.unprocessableContent, .idempotencyKeyReused, "this Idempotency-Key was used for a different request")
        }
        // Publishing again for a retried request is harmless: the message id is the command id,
        // and the consumer's inbox takes it once.
        let envelope = Envelope(
            id: commandId, data: makeBody(commandId), occurredAt: Date(), correlationId: commandId.uuidString.lowercased(),
            commandId: commandId)
        do {
            try await broker.publish(envelope)
        } catch {
            logger.warning("command not published; answering 503", metadata: ["command_id": "\(commandId)", "error": "\(error)"])
            throw APIError(
                .serviceUnavailable, .serviceUnavailable, "the request could not be queued; retry with the same Idempotency-Key",
                headers: [.retryAfter: "5"])
        }
        return commandId
    }
}
