import Foundation
import Messaging
import OrdersContracts
import Postgres
import Provisioning

/// `lifecycle.remind`: a reminder is due for the period ending `periodEnd`.
public struct RemindExpiry: MessageBody, Equatable {
    public static let messageType = "lifecycle.remind"
    public static let exchange = Exchange.commands

    public var orderId: UUID
    public var periodEnd: Date
    /// The most urgent threshold due when the tick found it.
    public var thresholdHours: Int

    public init(orderId: UUID, periodEnd: Date, thresholdHours: Int) {
        self.orderId = orderId
        self.periodEnd = periodEnd
        self.thresholdHours = thresholdHours
    }
}

/// Accounts for every threshold due at the tick's time, once per (order, period end, threshold):
/// the most urgent is sent (VPS_EXPIRING_SOON with the hours actually left), earlier ones found
/// late are recorded as skipped and never sent later. The first reminder of a period moves
/// ACTIVE → EXPIRING_SOON.
public struct RemindExpiryHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<RemindExpiry>, context: inout HandlerContext) throws -> HandlerOutcome {
        let body = message.data
        let now = context.now
        let connection = context.connection
        guard let order = try Orders.record(body.orderId, lock: true, on: connection), [.active, .expiringSoon].contains(order.status),
            body.periodEnd.sameSecond(as: order.expiresAt), body.periodEnd > now
        else { return .done }
        let due = LifecycleRules.due(order.billingPeriod, periodEnd: body.periodEnd, now: now)
        guard let urgent = due.first else { return .done }
        var sendUrgent = false
        for threshold in due {
            let inserted = try connection.execute(
                """
                INSERT INTO lifecycle_reminders (order_id, period_end, threshold_hours, outcome, at) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT DO NOTHING
                """, order.id, body.periodEnd, threshold, threshold == urgent ? "sent" : "skipped", now)
            if threshold == urgent && inserted > 0 { sendUrgent = true }
        }
        guard sendUrgent else { return .done }
        let hoursLeft = Int(body.periodEnd.timeIntervalSince(now) / 3600)
        if order.status == .active {
            try Orders.transition(
                order.id, from: [.active], to: .expiringSoon, actor: "system:lifecycle",
                reason: "expires in \(hoursLeft) h (\(urgent) h reminder)",
                at: now, on: connection)
        }
        try context.send(
            VPSExpiringSoon(
                customerId: order.customerId, orderId: order.id, hostname: order.hostname, thresholdHours: urgent, hoursLeft: hoursLeft,
                expiresAt: body.periodEnd, autoRenew: order.autoRenew, price: order.price),
            id: MessageID.derive("vps-expiring-soon", "\(order.id.uuidString):\(body.periodEnd.timeIntervalSince1970):\(urgent)"))
        return .done
    }
}
