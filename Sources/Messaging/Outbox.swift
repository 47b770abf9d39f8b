import Foundation
import Postgres

/// The `outbox` table. Follow-up messages are written here inside the handler's transaction;
/// the `OutboxRelay` publishes them after commit. Nothing is sent for a transaction that rolled
/// back.
public enum Outbox {
    /// Records a message to publish once the caller's transaction commits (handlers do so
    /// through `HandlerContext.send`; the ingress records each command it accepts).
    public static func enqueue<Body: MessageBody>(_ envelope: Envelope<Body>, on connection: PGConnection) throws {
        try enqueue([try Pending(envelope)], on: connection)
    }

    /// A message a handler sent, written to the outbox with the others of its transaction.
    struct Pending: Sendable {
        var messageId: UUID
        var exchange: String
        var type: String
        var body: String

        init<Body: MessageBody>(_ envelope: Envelope<Body>) throws {
            messageId = envelope.id
            exchange = Body.exchange
            type = Body.messageType
            body = String(decoding: try envelope.encoded(), as: UTF8.self)
        }
    }

    /// The messages a batch's handlers sent, gathered for one write before its commit.
    final class Collector {
        var pending: [Pending] = []
    }

    /// Writes a transaction's sent messages in one statement, in the order sent, queued to go
    /// with the commit (`executeLater`): no round trip of its own. The ids are derived from the
    /// business facts, so writing one twice is writing it once.
    static func enqueue(_ pending: [Pending], on connection: PGConnection) throws {
        guard !pending.isEmpty else { return }
        try connection.executeLater(
            """
            INSERT INTO outbox (message_id, exchange, routing_key, message_type, body)
            SELECT id, exchange, type, type, body FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY
                AS message (id, exchange, type, body, position)
            ORDER BY position
            ON CONFLICT (message_id) DO NOTHING
            """,
            PostgresArray(pending.map(\.messageId)), PostgresArray(pending.map(\.exchange)), PostgresArray(pending.map(\.type)),
            PostgresArray(pending.map(\.body)))
    }

    struct Row: Sendable {
        var id: Int64
        var messageId: UUID
        var exchange: String
        var routingKey: String
        var messageType: String
        var correlationId: String?
        var body: String
    }

    /// Claims up to `limit` unpublished rows for `seconds` (`FOR UPDATE SKIP LOCKED`: relays of
    /// several processes share the work; a crashed relay's claim runs out). Rows the broker
    /// refused `maxRefusals` times are left for an operator (`stuck`).
    static func claim(limit: Int, seconds: Int, maxRefusals: Int, minimumAge: Double = 0, on connection: PGConnection) throws -> [Row] {
        try connection.query(
            """
            UPDATE outbox SET claimed_until = now() + make_interval(secs => $2)
            WHERE id IN (
                SELECT id FROM outbox
                WHERE published_at IS NULL AND (claimed_until IS NULL OR claimed_until < now()) AND attempts < $3
                  AND created_at <= now() - make_interval(secs => $4)
                ORDER BY id LIMIT $1
                FOR UPDATE SKIP LOCKED)
            RETURNING id, message_id, exchange, routing_key, message_type, body::jsonb ->> 'correlationId' AS correlation_id, body
            """, limit, Double(seconds), maxRefusals, minimumAge
        ).map { row in
            Row(
                id: try row.decode("id"), messageId: try row.decode("message_id"), exchange: try row.decode("exchange"),
                routingKey: try row.decode("routing_key"), messageType: try row.decode("message_type"),
                correlationId: try row.decode("correlation_id"), body: try row.decode("body"))
        }.sorted { $0.id < $1.id }
    }

    /// Messages confirmed by the broker outside the relay (the ingress publishes a command at
    /// once and records it here so no relay publishes it again), marked in one statement.
    public static func markPublished(messageIds: [UUID], on connection: PGConnection) throws {
        try connection.execute(
            "UPDATE outbox SET published_at = now() WHERE message_id = ANY($1::uuid[]) AND published_at IS NULL",
            PostgresArray(messageIds))
    }

    /// Whether the message was published (by anyone); nil when it is not in the outbox.
    public static func isPublished(messageId: UUID, on connection: PGConnection) throws -> Bool? {
        try connection.query("SELECT published_at IS NOT NULL AS p FROM outbox WHERE message_id = $1", messageId).first?.decode("p")
    }

    static func markPublished(_ ids: [Int64], on connection: PGConnection) throws {
        guard !ids.isEmpty else { return }
        try connection.execute(
            "UPDATE outbox SET published_at = now(), claimed_until = NULL WHERE id = ANY($1::bigint[])",
            "{" + ids.map(String.init).joined(separator: ",") + "}")
    }

    /// A row the broker refused (`refused`) counts an attempt and stays claimed for a backoff
    /// that grows with its attempts, so it neither blocks the rows behind it nor is retried hot;
    /// a row that failed for want of a connection is free again for the next sweep, attempt not
    /// counted (an outage is not the row's fault). Returns the row's refusals so far.
    @discardableResult
    static func markFailed(_ id: Int64, error: String, refused: Bool, on connection: PGConnection) throws -> Int {
        try connection.query(
            """
            UPDATE outbox SET last_error = $2, attempts = attempts + CASE WHEN $3 THEN 1 ELSE 0 END,
                claimed_until = CASE WHEN $3 THEN now() + make_interval(secs => least(300, power(2, least(attempts, 9)))::double precision)
                                     ELSE NULL END
            WHERE id = $1
            RETURNING attempts
            """, id, String(error.prefix(500)), refused
        ).first?.decode("attempts") ?? 0
    }

    /// Unpublished rows, and among them those the broker refused `maxRefusals` times (no relay
    /// tries them any more), in one pass.
    public static func backlog(maxRefusals: Int, on connection: PGConnection) throws -> (unpublished: Int, stuck: Int) {
        guard
            let row = try connection.query(
                """
                SELECT count(*)::int AS unpublished, (count(*) FILTER (WHERE attempts >= $1))::int AS stuck
                FROM outbox WHERE published_at IS NULL
                """, maxRefusals
            ).first
        else { return (0, 0) }
        return (try row.decode("unpublished"), try row.decode("stuck"))
    }
}
