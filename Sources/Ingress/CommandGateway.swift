import AMQP
import Crypto
import Foundation
import Logging
import Messaging
import Postgres
import Synchronization

/// Accepts an API command: derives its id from (customer, Idempotency-Key), records it as
/// pending (or finds it recorded), refuses a reused key with another request, and publishes the
/// message with a confirm. Only bookkeeping is written here; the business effect is the worker's.
struct CommandGateway: Sendable {
    let pool: PostgresPool
    let broker: BrokerClient
    let logger: Logger
    let published: PublishedMarks

    init(pool: PostgresPool, broker: BrokerClient, logger: Logger) {
        self.pool = pool
        self.broker = broker
        self.logger = logger
        self.published = PublishedMarks(pool: pool, logger: logger)
    }

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
        let hash = Self.hex(SHA256.hash(data: requestFingerprint))
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
            published.add(commandId)
        } catch {
            // Recorded with the command: a relay publishes it. The 202 stands.
            logger.warning(
                "command not confirmed by the broker; the outbox relay will publish it",
                metadata: ["command_id": "\(commandId)", "error": "\(error)"])
        }
        return commandId
    }
}

extension CommandGateway {
    static func hex<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// Marks confirmed commands as published in the outbox, many per statement: a request adds its
/// command and returns; one flush at a time takes everything added so far. A mark lost to a
/// crash only means the relay's sweep publishes that command again after its grace period, and
/// the worker's inbox takes it once.
final class PublishedMarks: Sendable {
    private let pool: PostgresPool
    private let logger: Logger
    private let state = Mutex<(pending: [UUID], flushing: Bool)>(([], false))
    private static let keptAtMost = 10_000

    init(pool: PostgresPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    func add(_ id: UUID) {
        let start = state.withLock { state -> Bool in
            state.pending.append(id)
            guard !state.flushing else { return false }
            state.flushing = true
            return true
        }
        if start { Task { await flush() } }
    }

    private func flush() async {
        while true {
            let batch = state.withLock { state -> [UUID] in
                let batch = state.pending
                state.pending = []
                if batch.isEmpty { state.flushing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                try await pool.withConnection { try Outbox.markPublished(messageIds: batch, on: $0) }
            } catch {
                // Kept for the next flush (the next confirmed command starts one), up to a bound;
                // what is dropped, the relay's sweep publishes again.
                logger.warning(
                    "confirmed commands not marked published yet", metadata: ["commands": "\(batch.count)", "error": "\(error)"])
                state.withLock { state in
                    state.pending = Array((batch + state.pending).suffix(Self.keptAtMost))
                    state.flushing = false
                }
                return
            }
        }
    }
}
