import Foundation
import Logging
import Postgres

/// One handler run as one transaction: claim the inbox row `(consumer, message id)`, apply the
/// handler's effects, write its outbox rows, record the command's outcome, commit. A claimed
/// row means the message already took effect, and the run is a no-op.
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
        var prepared: (any Sendable)?
        if let prepare = handler.prepare {
            // Do not call out for a message that already took effect.
            if try await alreadyProcessed(header.id, consumer: consumer, pool: pool) { return .duplicate }
            prepared = try await prepare(body, pool, logger)
        }
        let preparation = prepared
        return try await pool.transaction { connection in
            let claimed = try connection.execute(
                "INSERT INTO inbox (consumer, message_id, message_type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                consumer, header.id, header.type)
            guard claimed == 1 else { return .duplicate }
            var context = HandlerContext(connection: connection, logger: logger, attempt: attempt)
            try handler.run(body, preparation, &context)
            if let commandId = header.commandId {
                try Commands.succeed(commandId, result: context.commandResult ?? "{}", on: connection)
            }
            return .applied(sent: context.sent)
        }
    }

    /// Runs `handler` on one typed envelope, exactly as a consumer would (tests, tools).
    public static func run<Handler: MessageHandler>(
        _ handler: Handler, _ envelope: Envelope<Handler.Body>, consumer: String, pool: PostgresPool, logger: Logger
    ) async throws -> Outcome {
        try await run(AnyMessageHandler(handler), envelope, consumer: consumer, pool: pool, logger: logger)
    }

    public static func run<Body: MessageBody>(
        _ handler: AnyMessageHandler, _ envelope: Envelope<Body>, consumer: String, pool: PostgresPool, logger: Logger
    ) async throws -> Outcome {
        let header = EnvelopeHeader(
            id: envelope.id, type: envelope.type, version: envelope.version, correlationId: envelope.correlationId,
            commandId: envelope.commandId)
        return try await run(
            handler, body: try envelope.encoded(), header: header, consumer: consumer, attempt: 0, pool: pool, logger: logger)
    }

    static func alreadyProcessed(_ id: UUID, consumer: String, pool: PostgresPool) async throws -> Bool {
        try await pool.withConnection { connection in
            try !connection.query("SELECT 1 AS x FROM inbox WHERE consumer = $1 AND message_id = $2", consumer, id).isEmpty
        }
    }
}

/// The outcome of API commands, which `GET /commands/{id}` reads. The ingress records a command
/// as pending when it accepts it; the consumer that carries it out records how it ended.
public enum Commands {
    public static func succeed(_ id: UUID, result: String, on connection: PGConnection) throws {
        try connection.execute(
            """
            UPDATE commands SET status = 'succeeded', result = $2::jsonb, error_code = NULL, error_message = NULL, completed_at = now()
            WHERE id = $1 AND status <> 'succeeded'
            """, id, result)
    }

    public static func fail(_ id: UUID, code: String, message: String, on connection: PGConnection) throws {
        try connection.execute(
            """
            UPDATE commands SET status = 'failed', error_code = $2, error_message = $3, completed_at = now()
            WHERE id = $1 AND status = 'pending'
            """, id, code, String(message.prefix(2000)))
    }
}
