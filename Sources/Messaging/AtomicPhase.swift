import Foundation
import Logging
import Postgres

/// One handler run as one transaction: claim the inbox row `(consumer, message id)`, apply the
/// handler's effects, write its outbox rows, commit. A claimed row means the message already
/// took effect, and the run is a no-op.
public enum AtomicPhase {
    public enum Outcome: Sendable, Equatable {
        case duplicate
        case applied(sent: Int)
    }

    /// Runs `handler` on an already encoded envelope (what the consumer does per delivery).
    public static func run(
        _ handler: AnyMessageHandler, body: [UInt8], header: EnvelopeHeader, consumer: String, attempt: Int,
        pool: PostgresPool, logger: Logger
    ) async throws -> Outcome {
        try await pool.transaction { connection in
            let claimed = try connection.execute(
                "INSERT INTO inbox (consumer, message_id, message_type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                consumer, header.id, header.type)
            guard claimed == 1 else { return .duplicate }
            var context = HandlerContext(connection: connection, logger: logger, attempt: attempt)
            try handler.run(body, &context)
            return .applied(sent: context.sent)
        }
    }

    /// Runs `handler` on one typed envelope, exactly as a consumer would (tests, tools).
    public static func run<Handler: MessageHandler>(
        _ handler: Handler, _ envelope: Envelope<Handler.Body>, consumer: String, pool: PostgresPool, logger: Logger
    ) async throws -> Outcome {
        let header = EnvelopeHeader(id: envelope.id, type: envelope.type, version: envelope.version, correlationId: envelope.correlationId)
        return try await run(
            AnyMessageHandler(handler), body: try envelope.encoded(), header: header, consumer: consumer, attempt: 0, pool: pool,
            logger: logger)
    }
}
