import Foundation
import Messaging
import OrdersContracts
import Postgres
import Wallet
import WalletContracts

/// The customer renews now (`provisioning.renew-order`): VPS_RENEWAL with the reference of the
/// period end being replaced, so each period is charged once; `expires_at` one period on from the
/// current expiry when that is still ahead, else from the command's time. EXPIRING_SOON and
/// SUSPENDED become ACTIVE; a suspended droplet is powered on.
public struct RenewOrderHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<RenewOrder>, context: inout HandlerContext) throws -> HandlerOutcome {
        let body = message.data
        let connection = context.connection
        guard let order = try Orders.record(body.orderId, lock: true, on: connection), order.customerId == body.customerId else {
            return .rejected(.orderNotFound, "no such order")
        }
        guard [.active, .expiringSoon, .suspended].contains(order.status), let expiresAt = order.expiresAt else {
            return .rejected(.invalidOrderState, "an order that is \(order.status.rawValue) cannot be renewed")
        }
        let now = context.now
        let newExpiry = order.billingPeriod.end(from: expiresAt > now ? expiresAt : now)
        let posting: LedgerPosting
        do {
            posting = try Ledger.debit(
                order.customerId, amount: order.price, reference: .vpsRenewal,
                referenceId: RenewOrder.reference(orderId: order.id, periodEnd: expiresAt),
                description: "VPS \(order.hostname): renewed until \(newExpiry)", on: connection)
        } catch WalletError.insufficientBalance(let balance, let required) {
            return .rejected(.insufficientBalance, "balance \(balance) is less than the price \(required) (deficit \(required - balance))")
        }
        guard case .applied = posting else {
            // This period was paid already (by the lifecycle's auto-renewal racing this command).
            return try .done(Orders.view(order.id, customerId: order.customerId, on: connection))
        }
        let actor = "customer:\(order.customerId)"
        let reason = "renewed until \(ISO8601DateFormatter().string(from: newExpiry))"
        if order.status == .active {
            try connection.execute("UPDATE orders SET expires_at = $2, updated_at = now() WHERE id = $1", order.id, newExpiry)
            try Orders.history(order.id, from: .active, to: .active, actor: actor, reason: reason, at: now, on: connection)
        } else {
            try Orders.transition(
                order.id, from: [.expiringSoon, .suspended], to: .active, actor: actor, reason: reason, at: now,
                set: "expires_at = $3, suspended_at = NULL", [newExpiry], on: connection)
        }
        if order.status == .suspended {
            try context.send(
                RequestDropletAction(
                    actionId: MessageID.derive("renewal-power-on", RenewOrder.reference(orderId: order.id, periodEnd: expiresAt)),
                    orderId: order.id, customerId: order.customerId, action: .powerOn, image: nil),
                id: MessageID.derive("renewal-power-on-command", RenewOrder.reference(orderId: order.id, periodEnd: expiresAt)))
        }
        try context.send(
            VPSRenewed(
                customerId: order.customerId, orderId: order.id, hostname: order.hostname, amount: order.price, expiresAt: newExpiry),
            id: MessageID.derive("vps-renewed", RenewOrder.reference(orderId: order.id, periodEnd: expiresAt)))
        return try .done(Orders.view(order.id, customerId: order.customerId, on: connection))
    }
}
