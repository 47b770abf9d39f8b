import Foundation
import Postgres

/// Follow-up messages are written here inside the handler's transaction; the `OutboxRelay`
/// publishes them after commit. Nothing is sent for a transaction that rolled back.
public enum Outbox {
    public static func enqueue<Body: MessageBody>(_ envelope: Envelope<Body>, on connection: PGConnection) throws {
        let body = String(decoding: try envelope.encoded(), as: UTF8.self)
        // The id is derived from the business fact, so writing it twice is writing it once.
        try connection.execute(
            """
            INSERT INTO outbox (message_id, exchange, routing_key, message_type, body)
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO NOTHING
            """,
            envelope.id, Body.exchange, Body.messageType, Body.messageType, body)
    }
}
