import Foundation
import Postgres

/// The `inbox` table: one row per (consumer, message id) that took effect or was refused.
/// Claiming the row in the handler's transaction is what makes a redelivery a no-op.
public enum Inbox {
    /// Inserts the row; false when it exists (the message already took effect for `consumer`).
    static func claim(consumer: String, header: EnvelopeHeader, on connection: PGConnection) throws -> Bool {
        try connection.execute(
            "INSERT INTO inbox (consumer, message_id, message_type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            consumer, header.id, header.type) == 1
    }

    /// Claims the rows of several messages in one statement; returns the ids claimed now (the
    /// others took effect before, or appear twice in `headers`).
    static func claimAll(consumer: String, headers: [EnvelopeHeader], on connection: PGConnection) throws -> Set<UUID> {
        let rows = try connection.query(
            """
            INSERT INTO inbox (consumer, message_id, message_type)
            SELECT $1, id, type FROM unnest($2::uuid[], $3::text[]) AS message (id, type)
            ON CONFLICT DO NOTHING RETURNING message_id
            """,
            consumer, PostgresArray(headers.map(\.id)), PostgresArray(headers.map(\.type)))
        return Set(try rows.map { try $0.decode("message_id", as: UUID.self) })
    }

    static func recordRejection(consumer: String, messageId: UUID, code: ErrorCode, message: String, on connection: PGConnection) throws {
        try connection.execute(
            "UPDATE inbox SET outcome = 'failed', error_code = $3, error_message = $4 WHERE consumer = $1 AND message_id = $2",
            consumer, messageId, code.rawValue, String(message.prefix(2000)))
    }

    public static func contains(consumer: String, messageId: UUID, on connection: PGConnection) throws -> Bool {
        try !connection.query("SELECT 1 AS x FROM inbox WHERE consumer = $1 AND message_id = $2", consumer, messageId).isEmpty
    }

    /// The recorded outcome of a message: nil when it has not taken effect.
    public static func outcome(consumer: String, messageId: UUID, on connection: PGConnection) throws -> (
        outcome: String, errorCode: String?
    )? {
        try connection.query(
            "SELECT outcome, error_code FROM inbox WHERE consumer = $1 AND message_id = $2", consumer, messageId
        ).first.map { (try $0.decode("outcome"), try $0.decode("error_code")) }
    }
}

/// The `delivery_copies` table: the copies of a delivery the runtime published (a retry, an
/// "again", a dead letter), so a redelivered original whose ack was lost is not copied twice.
enum DeliveryCopies {
    static func exists(consumer: String, messageId: String, copy: String, on connection: PGConnection) throws -> Bool {
        try !connection.query(
            "SELECT 1 AS x FROM delivery_copies WHERE consumer = $1 AND message_id = $2 AND copy = $3", consumer, messageId, copy
        ).isEmpty
    }

    static func record(consumer: String, messageId: String, copy: String, on connection: PGConnection) throws {
        try connection.execute(
            "INSERT INTO delivery_copies (consumer, message_id, copy) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", consumer, messageId,
            copy)
    }
}
