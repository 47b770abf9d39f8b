import Foundation
import Messaging
import OrdersContracts
import Postgres
import Provisioning

/// `lifecycle.expire`: the period ending `periodEnd` is over.
public struct ExpireOrder: MessageBody, Equatable {
    public static let messageType = "lifecycle.expire"
    public static let exchange = Exchange.commands

    public var orderId: UUID
    public var periodEnd: Date

    public init(orderId: UUID, periodEnd: Date) {
        self.orderId = orderId
        self.periodEnd = periodEnd
    }
}

/// At expiry (the tick's time): with auto-renew on, one last renewal try (it may race this in the
/// same tick); else daily plans are terminated, monthly and yearly suspended (the provisioner
/// powers the droplet off) with `suspended_at` = the tick's time and VPS_SUSPENDED (grace hours).
/// The reason is INSUFFICIENT_BALANCE with auto-renew on, EXPIRED_NO_RENEWAL without.
public struct ExpireOrderHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<ExpireOrder>, context: inout HandlerContext) throws -> HandlerOutcome {
        let body = message.data
        let now = context.now
        let connection = context.connection
        guard let order = try Orders.record(body.orderId, lock: true, on: connection), [.active, .expiringSoon].contains(order.status),
            body.periodEnd.sameSecond(as: order.expiresAt), body.periodEnd <= now
        else { return .done }
        let autoRenew = order.autoRenew
        if autoRenew, try AutoRenewHandler.attempt(order, periodEnd: body.periodEnd, context: &context) { return .done }
        let reason = autoRenew ? "INSUFFICIENT_BALANCE" : "EXPIRED_NO_RENEWAL"
        if order.billingPeriod == .daily {
            try Termination.terminate(order, reason: reason, now: now, context: &context)
            return .done
        }
        let grace = LifecycleRules.graceHours(order.billingPeriod)
        try Orders.transition(
            order.id, from: [.active, .expiringSoon], to: .suspended, actor: "system:lifecycle",
            reason: "\(reason): suspended for \(grace) h",
            at: now, set: "suspended_at = $3", [now], on: connection)
        try context.send(
            RequestDropletAction(
                actionId: MessageID.derive("suspension-power-off", "\(order.id.uuidString):\(body.periodEnd.timeIntervalSince1970)"),
                orderId: order.id, customerId: order.customerId, action: .powerOff, image: nil, onlyWhileSuspended: true),
            id: MessageID.derive("suspension-power-off-command", "\(order.id.uuidString):\(body.periodEnd.timeIntervalSince1970)"))
        try context.send(
            VPSSuspended(customerId: order.customerId, orderId: order.id, hostname: order.hostname, graceHours: grace, reason: reason),
            id: MessageID.derive("vps-suspended", "\(order.id.uuidString):\(body.periodEnd.timeIntervalSince1970)"))
        return .done
    }
}
