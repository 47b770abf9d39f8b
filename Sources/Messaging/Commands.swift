import Foundation
import Postgres

/// The `commands` table: API commands and their outcome, which `GET /commands/{id}` reads. The
/// ingress records a command as pending when it accepts it; the consumer that carries it out
/// records how it ended, in the same transaction as the effect.
public enum Commands {
    public enum Status: String, Sendable, Codable {
        /// Accepted; not carried out yet (retries and waits included).
        case pending
        case succeeded
        /// Refused by a business rule: final.
        case failed
        /// Its message was dead-lettered: not final, an operator may replay it.
        case stalled
    }

    public struct Record: Sendable {
        public var id: UUID
        public var type: String
        public var status: Status
        /// The handler's result as JSON text.
        public var result: String?
        public var errorCode: String?
        public var errorMessage: String?
    }

    /// Records an accepted command, or finds it recorded; returns the request hash on record,
    /// which differs from `requestHash` when the key was used for another request.
    public static func recordPending(
        _ id: UUID, customerId: String, idempotencyKey: String, type: String, requestHash: String, on connection: PGConnection
    ) throws -> String {
        try connection.execute(
            """
            INSERT INTO commands (id, customer_id, idempotency_key, command_type, request_hash) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (customer_id, idempotency_key) DO NOTHING
            """, id, customerId, idempotencyKey, type, requestHash)
        guard let row = try connection.query("SELECT request_hash FROM commands WHERE id = $1", id).first else {
            throw PostgresError(kind: .server, message: "command \(id) missing right after insert")
        }
        return try row.decode("request_hash")
    }

    /// The customer's own command; nil for another customer's.
    public static func find(_ id: UUID, customerId: String, on connection: PGConnection) throws -> Record? {
        try connection.query(
            """
            SELECT id, command_type, status, result::text AS result, error_code, error_message
            FROM commands WHERE id = $1 AND customer_id = $2
            """, id, customerId
        ).first.map { row in
            let status: String = try row.decode("status")
            guard let parsed = Status(rawValue: status) else {
                throw PostgresError(kind: .decoding, message: "unknown command status '\(status)'")
            }
            return Record(
                id: try row.decode("id"), type: try row.decode("command_type"), status: parsed, result: try row.decode("result"),
                errorCode: try row.decode("error_code"), errorMessage: try row.decode("error_message"))
        }
    }

    static func succeed(_ id: UUID, result: String?, on connection: PGConnection) throws {
        // Nothing reads its row count: sent with the commit (or the next statement).
        try connection.executeLater(
            """
            UPDATE commands SET status = 'succeeded', result = $2::jsonb, error_code = NULL, error_message = NULL, completed_at = now()
            WHERE id = $1 AND status <> 'succeeded'
            """, id, result ?? "{}")
    }

    /// Records a refusal; a command that succeeded stays succeeded. A rejection after a replay
    /// replaces the earlier stall with the real code.
    static func fail(_ id: UUID, code: ErrorCode, message: String, on connection: PGConnection) throws {
        try connection.execute(
            """
            UPDATE commands SET status = 'failed', error_code = $2, error_message = $3, completed_at = now()
            WHERE id = $1 AND status <> 'succeeded'
            """, id, code.rawValue, String(message.prefix(2000)))
    }

    /// Its message was dead-lettered (PROCESSING_FAILED): not final, a replay may still carry it
    /// out. Only a pending command stalls.
    static func stall(_ id: UUID, code: ErrorCode, message: String, on connection: PGConnection) throws {
        try connection.execute(
            """
            UPDATE commands SET status = 'stalled', error_code = $2, error_message = $3, completed_at = now()
            WHERE id = $1 AND status = 'pending'
            """, id, code.rawValue, String(message.prefix(2000)))
    }
}
