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

    /// Records the command and its message in one transaction, then publishes the message with a
    /// confirm; returns the command id. A 202 is a promise: the message is in the outbox with the
    /// command, so when the broker fails after the commands row was written (no confirm, a lost
    /// connection), a relay publishes it later and it still reaches its worker.
    func submit<Body: MessageBody>(
        _ makeBody: (UUID) -> Body, customerId: String, idempotencyKey: String, requestFingerprint: [UInt8]
    ) async throws -> UUID {
        let commandId = Self.commandId(customerId: customerId, idempotencyKey: idempotencyKey)
        let hash = SHA256.hash(data: requestFingerprint).map { String(format: "%02x", $0) }.joined()
        let type = Body.messageType
        // The message id is the command id, and the inbox takes it once: publishing again for a
        // retried request is harmless.
        let envelope = Envelope(
            id: commandId, data: makeBody(commandId), occurredAt: Date(), correlationId: commandId.uuidString.lowercased(),
            commandId: commandId)
        let recordedHash = try await pool.transaction { connection in
            let recorded = try Commands.recordPending(
                commandId, customerId: customerId, idempotencyKey: idempotencyKey, type: type, requestHash: hash, on: connection)
            if recorded == hash { try Outbox.enqueue(envelope, on: connection) }
            return recorded
        }
        guard recordedHash == hash else {
            throw APIError(.unprocessableContent, .idempotencyKeyReused, "this Idempotency-Key was used for a different request")
        }
        do {
            try await broker.publish(envelope)
            try await pool.withConnection { try Outbox.markPublished(messageId: commandId, on: $0) }
        } catch {
            // Recorded with the command: a relay publishes it. The 202 stands.
            logger.warning(
                "command not confirmed by the broker; the outbox relay will publish it",
                metadata: ["command_id": "\(commandId)", "error": "\(error)"])
        }
        return commandId
    }
}
