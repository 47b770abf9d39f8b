import Foundation
import Messaging
import NotificationsContracts
import Postgres

/// What a delivery sends, as rendered when its notification was recorded.
struct ClaimedDelivery: Sendable {
    var id: UUID
    /// This run's claim: only it may give the claim back.
    var holder: UUID
    var createdAt: Date
    var channel: DeliveryChannel
    var recipient: String
    var subject: String
    var text: String
    var html: String
    var attempts: Int
}

/// Why a delivery could not be claimed.
enum ClaimRefusal: Error, Sendable {
    /// Sent, skipped, or gone: nothing to do.
    case settled
    /// Another run holds it (a redelivery while the first is still sending).
    case claimed(wait: Double)
}

/// The `notification_deliveries` table's writes. A delivery is claimed (`claimed_until`) for the
/// time a send may take, so two deliveries of the same message never send at once, and a
/// crashed sender's claim runs out.
enum Deliveries {
    static func id(notification: UUID, channel: DeliveryChannel) -> UUID {
        MessageID.derive("notification-delivery", notification.uuidString.lowercased(), channel.rawValue)
    }

    /// Claims a queued (or failed, when an operator replays its dead letter) delivery.
    static func claim(_ id: UUID, for seconds: Int, on connection: PGConnection) throws -> Result<ClaimedDelivery, ClaimRefusal> {
        let holder = UUID()
        if let row = try connection.query(
            """
            UPDATE notification_deliveries SET claimed_until = clock_timestamp() + make_interval(secs => $2), claim_holder = $3,
                updated_at = now()
            WHERE id = $1 AND status IN ('queued', 'failed') AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
            RETURNING channel, recipient, subject, body_text, body_html, attempts, created_at
            """, id, seconds, holder
        ).first {
            guard let channel = DeliveryChannel(rawValue: try row.decode("channel")) else { return .failure(.settled) }
            return .success(
                ClaimedDelivery(
                    id: id, holder: holder, createdAt: try row.decode("created_at"), channel: channel,
                    recipient: try row.decode("recipient"), subject: try row.decode("subject"),
                    text: try row.decode("body_text"), html: try row.decode("body_html"), attempts: try row.decode("attempts")))
        }
        guard
            let row = try connection.query(
                """
                SELECT status, greatest(extract(epoch FROM claimed_until - clock_timestamp()), 0)::float8 AS wait
                FROM notification_deliveries WHERE id = $1
                """, id
            ).first,
            try row.decode("status", as: String.self) != DeliveryStatus.sent.rawValue,
            try row.decode("status", as: String.self) != DeliveryStatus.skipped.rawValue
        else { return .failure(.settled) }
        return .failure(.claimed(wait: max(1, try row.decode("wait", as: Double?.self) ?? 1)))
    }

    /// Gives the claim back without counting an attempt (waiting for a pacing slot), unless
    /// another run holds it by now.
    static func release(_ delivery: ClaimedDelivery, on connection: PGConnection) throws {
        try connection.execute(
            """
            UPDATE notification_deliveries SET claimed_until = NULL, claim_holder = NULL, updated_at = now()
            WHERE id = $1 AND claim_holder = $2 AND status <> 'sent'
            """, delivery.id, delivery.holder)
    }

    /// An attempt that failed and will be retried (or, `final`, will not: the delivery is failed
    /// and its message dead-lettered). A run whose claim ran out and was taken records nothing.
    static func attemptFailed(_ delivery: ClaimedDelivery, error: String, final: Bool, on connection: PGConnection) throws {
        try connection.execute(
            """
            UPDATE notification_deliveries SET attempts = attempts + 1, last_error = $3, claimed_until = NULL, claim_holder = NULL,
                updated_at = now(), status = CASE WHEN $4 THEN 'failed' ELSE status END
            WHERE id = $1 AND claim_holder = $2 AND status <> 'sent'
            """, delivery.id, delivery.holder, String(error.prefix(1000)), final)
    }

    /// Deliveries still queued long after they were recorded, nobody sending them: their message
    /// died where no run could record it (the broker's delivery limit, a deadline, the database
    /// down at the last attempt). The customer sees them failed; a replay of the dead letter still
    /// sends them.
    static func failAbandoned(olderThan age: Duration, on connection: PGConnection) throws -> Int {
        try connection.query(
            """
            WITH abandoned AS (
                UPDATE notification_deliveries SET status = 'failed', updated_at = now(),
                    last_error = coalesce(last_error || '; ', '') || 'not delivered in time; its message is in the dead-letter queue'
                WHERE status = 'queued' AND created_at < now() - make_interval(secs => $1)
                  AND (claimed_until IS NULL OR claimed_until < now())
                RETURNING 1)
            SELECT count(*)::int AS n FROM abandoned
            """, Double(age.components.seconds)
        ).first?.decode("n") ?? 0
    }

    /// The outcome of the run's send: right after the provider answered (so a failure of the
    /// atomic phase cannot send it again), and again in the atomic phase with the inbox row
    /// (a no-op then).
    static func settle(_ id: UUID, as result: SendResult, on connection: PGConnection) throws {
        switch result.outcome {
        case .sent(let at, let providerId):
            try connection.execute(
                """
                UPDATE notification_deliveries SET status = 'sent', attempts = attempts + 1, sent_at = $2, provider_id = $3,
                    last_error = NULL, claimed_until = NULL, claim_holder = NULL, updated_at = now()
                WHERE id = $1 AND status <> 'sent'
                """, id, at, providerId)
        case .refused(let reason):
            try connection.execute(
                """
                UPDATE notification_deliveries SET status = 'failed', attempts = attempts + 1, last_error = $2, claimed_until = NULL,
                    claim_holder = NULL, updated_at = now()
                WHERE id = $1 AND claim_holder = $3 AND status <> 'sent'
                """, id, String(reason.prefix(1000)), result.holder)
        case .nothingToDo:
            break
        }
    }
}

/// What a run's send came to, and the claim it held (which the first record clears, so the
/// second is a no-op).
struct SendResult: Sendable {
    var holder: UUID?
    var outcome: SendOutcome
}

/// What a send step came to, for the atomic phase to record.
enum SendOutcome: Sendable {
    case sent(at: Date, providerId: String?)
    /// Refused for good (a rejected recipient, a blocked bot): recorded failed, not retried.
    case refused(String)
    /// Already sent or skipped (a replayed dead letter of a delivery that went out since).
    case nothingToDo
}
