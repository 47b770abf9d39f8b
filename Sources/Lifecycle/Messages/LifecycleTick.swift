import Foundation
import Messaging
import OrdersContracts
import Postgres

/// `lifecycle.tick`: the scheduler's heartbeat, carrying its logical time. Its id is derived from
/// that time floored to the period, so the ticks several schedulers publish for one period take
/// effect once; an older tick arriving late still applies (what it finds is idempotent).
public struct LifecycleTick: MessageBody, Equatable {
    public static let messageType = "lifecycle.tick"
    public static let exchange = Exchange.commands

    public var now: Date

    public init(now: Date) {
        self.now = now
    }

    public static func id(at time: Date, periodSeconds: Int) -> UUID {
        let slot = Int64(time.timeIntervalSince1970.rounded(.down)) / Int64(periodSeconds)
        return MessageID.derive("lifecycle-tick", "\(periodSeconds):\(slot)")
    }
}

/// Finds what is due at the tick's time with set-based, index-backed queries and fans out one
/// command per order and action: the most urgent reminder due and not yet accounted for,
/// auto-renewal inside its window (again each tick until it succeeds or the order expires),
/// expiry, and termination after the grace period.
public struct LifecycleTickHandler: MessageHandler {
    /// The most orders one tick fans out per action; the rest wait for the next tick.
    let batch: Int

    public init(batch: Int = 10_000) {
        self.batch = batch
    }

    public func handle(_ message: Envelope<LifecycleTick>, context: inout HandlerContext) throws -> HandlerOutcome {
        let now = message.data.now
        let connection = context.connection
        var sent = (reminders: 0, renewals: 0, expiries: 0, terminations: 0)
        // Reminders: the most urgent threshold due, when no row accounts for it yet.
        let reminders = try connection.query(
            """
            SELECT id, expires_at, urgent FROM (
                SELECT o.id, o.expires_at,
                    CASE WHEN o.expires_at <= $1::timestamptz + interval '8 hours' THEN 8
                         WHEN o.billing_period = 'DAILY' THEN NULL
                         WHEN o.expires_at <= $1::timestamptz + interval '24 hours' THEN 24
                         WHEN o.expires_at <= $1::timestamptz + interval '72 hours' THEN 72
                         ELSE 168 END AS urgent
                FROM orders o
                WHERE o.status IN ('ACTIVE', 'EXPIRING_SOON') AND o.expires_at > $1::timestamptz AND o.expires_at <= $1::timestamptz + interval '168 hours'
            ) due
            WHERE urgent IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM lifecycle_reminders r
                WHERE r.order_id = due.id AND r.period_end = date_trunc('second', due.expires_at) AND r.threshold_hours = due.urgent)
            ORDER BY expires_at LIMIT $2
            """, now, batch)
        for row in reminders {
            let (id, end): (UUID, Date) = (try row.decode("id"), try row.decode("expires_at"))
            let threshold: Int = try row.decode("urgent")
            try context.send(
                RemindExpiry(orderId: id, periodEnd: end, thresholdHours: threshold),
                id: MessageID.derive("lifecycle-remind", "\(id.uuidString):\(end.timeIntervalSince1970):\(threshold)"))
            sent.reminders += 1
        }
        // Auto-renewal inside its window (daily 8 h, else 24 h), suspended ones too: each tick tries
        // again until the money is there or the order is gone; the ledger charges a period once.
        let renewals = try connection.query(
            """
            SELECT id, expires_at FROM orders
            WHERE auto_renew AND status IN ('ACTIVE', 'EXPIRING_SOON', 'SUSPENDED')
              AND expires_at <= $1::timestamptz + interval '24 hours'
              AND (billing_period <> 'DAILY' OR expires_at <= $1::timestamptz + interval '8 hours')
            ORDER BY expires_at LIMIT $2
            """, now, batch)
        let tickId = message.id.uuidString
        for row in renewals {
            let (id, end): (UUID, Date) = (try row.decode("id"), try row.decode("expires_at"))
            try context.send(
                AutoRenew(orderId: id, periodEnd: end),
                id: MessageID.derive("lifecycle-renew", "\(id.uuidString):\(end.timeIntervalSince1970):\(tickId)"))
            sent.renewals += 1
        }
        // Expired.
        let expired = try connection.query(
            "SELECT id, expires_at FROM orders WHERE status IN ('ACTIVE', 'EXPIRING_SOON') AND expires_at <= $1::timestamptz ORDER BY expires_at LIMIT $2",
            now,
            batch)
        for row in expired {
            let (id, end): (UUID, Date) = (try row.decode("id"), try row.decode("expires_at"))
            try context.send(
                ExpireOrder(orderId: id, periodEnd: end),
                id: MessageID.derive("lifecycle-expire", "\(id.uuidString):\(end.timeIntervalSince1970)"))
            sent.expiries += 1
        }
        // Suspended past their grace period.
        let graceOver = try connection.query(
            """
            SELECT id, suspended_at FROM orders
            WHERE status = 'SUSPENDED'
              AND suspended_at <= $1::timestamptz
              AND (billing_period = 'DAILY' OR suspended_at <= $1::timestamptz - interval '24 hours')
              AND (billing_period <> 'YEARLY' OR suspended_at <= $1::timestamptz - interval '72 hours')
            ORDER BY suspended_at LIMIT $2
            """, now, batch)
        for row in graceOver {
            let (id, since): (UUID, Date) = (try row.decode("id"), try row.decode("suspended_at"))
            try context.send(
                TerminateExpired(orderId: id, suspendedAt: since),
                id: MessageID.derive("lifecycle-terminate", "\(id.uuidString):\(since.timeIntervalSince1970)"))
            sent.terminations += 1
        }
        context.logger.info(
            "tick",
            metadata: [
                "now": "\(now)", "reminders": "\(sent.reminders)", "renewals": "\(sent.renewals)", "expiries": "\(sent.expiries)",
                "terminations": "\(sent.terminations)",
            ])
        return .done
    }
}
