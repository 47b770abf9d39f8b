import Foundation
import Messaging
import OrdersContracts
import Postgres
import Provisioning

/// `lifecycle.renew`: auto-renewal of the period ending `periodEnd`, tried on each tick inside the
/// renewal window until it succeeds or the order is gone.
public struct AutoRenew: MessageBody, Equatable {
    public static let messageType = "lifecycle.renew"
    public static let exchange = Exchange.commands

    public var orderId: UUID
    public var periodEnd: Date

    public init(orderId: UUID, periodEnd: Date) {
        self.orderId = orderId
        self.periodEnd = periodEnd
    }
}

/// Renews by `Renewal`'s rule at the tick's time. Short of money: VPS_RENEWAL_FAILED with the
/// amount required, once per period (the customer may top up; later ticks try again).
public struct AutoRenewHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<AutoRenew>, context: inout HandlerContext) throws -> HandlerOutcome {
        let body = message.data
        guard let order = try Orders.record(body.orderId, lock: true, on: context.connection),
            [.active, .expiringSoon, .suspended].contains(order.status), body.periodEnd.sameSecond(as: order.expiresAt), order.autoRenew
        else { return .done }
        try AutoRenewHandler.attempt(order, periodEnd: body.periodEnd, context: &context)
        return .done
    }

    /// Renews, or records and tells the failure once per period. Returns whether it renewed.
    @discardableResult
    static func attempt(_ order: OrderRecord, periodEnd: Date, context: inout HandlerContext) throws -> Bool {
        switch try Renewal.renew(order, periodEnd: periodEnd, now: context.now, actor: "system:lifecycle", context: &context) {
        case .renewed, .alreadyPaid:
            return true
        case .insufficientBalance(let balance, let required):
            let first = try context.connection.execute(
                """
                INSERT INTO renewal_failures (order_id, period_end, required, balance, at) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT DO NOTHING
                """, order.id, periodEnd, required, balance, context.now)
            if first > 0 {
                try context.send(
                    VPSRenewalFailed(
                        customerId: order.customerId, orderId: order.id, hostname: order.hostname, required: required, balance: balance,
                        expiresAt: periodEnd),
                    id: MessageID.derive("vps-renewal-failed", "\(order.id.uuidString):\(periodEnd.timeIntervalSince1970)"))
            }
            return false
        }
    }
}
