import Foundation
import Messaging
import OrdersContracts
import Postgres
import Wallet
import WalletContracts

/// One more period for an order, paid from the wallet: the rule the customer's "renew now" and
/// the lifecycle's auto-renewal share (DOMAIN.md). VPS_RENEWAL's reference is the period end
/// being replaced, so each period is charged once; the new expiry is one period on from that end
/// when it is still ahead of `now`, else from `now`. EXPIRING_SOON and SUSPENDED become ACTIVE;
/// a suspended droplet is powered on; VPS_RENEWED goes out.
public enum Renewal {
    public enum Result: Sendable, Equatable {
        case renewed(until: Date)
        /// This period was paid already (another renewal of it won).
        case alreadyPaid
        case insufficientBalance(balance: Int64, required: Int64)
    }

    public static func renew(_ order: OrderRecord, periodEnd: Date, now: Date, actor: String, context: inout HandlerContext) throws
        -> Result
    {
        let connection = context.connection
        let reference = RenewOrder.reference(orderId: order.id, periodEnd: periodEnd)
        let newExpiry = order.billingPeriod.end(from: periodEnd > now ? periodEnd : now).wholeSeconds
        let posting: LedgerPosting
        do {
            posting = try Ledger.debit(
                order.customerId, amount: order.price, reference: .vpsRenewal, referenceId: reference,
                description: "VPS \(order.hostname): renewed until \(ISO8601DateFormatter().string(from: newExpiry))", on: connection)
        } catch WalletError.insufficientBalance(let balance, let required) {
            return .insufficientBalance(balance: balance, required: required)
        }
        guard case .applied = posting else { return .alreadyPaid }
        let reason = "renewed until \(ISO8601DateFormatter().string(from: newExpiry))"
        if order.status == .active {
            try connection.execute("UPDATE orders SET expires_at = $2, updated_at = now() WHERE id = $1", order.id, newExpiry)
            try Orders.history(order.id, from: .active, to: .active, actor: actor, reason: reason, at: now, on: connection)
        } else {
            guard
                try Orders.transition(
                    order.id, from: [.expiringSoon, .suspended], to: .active, actor: actor, reason: reason, at: now,
                    set: "expires_at = $3, suspended_at = NULL", [newExpiry], on: connection)
            else { throw PostgresError(kind: .server, message: "order \(order.id) left its state while it was renewed") }
        }
        if order.status == .suspended {
            try context.send(
                RequestDropletAction(
                    actionId: MessageID.derive("renewal-power-on", reference), orderId: order.id, customerId: order.customerId,
                    action: .powerOn, image: nil),
                id: MessageID.derive("renewal-power-on-command", reference))
        }
        try context.send(
            VPSRenewed(
                customerId: order.customerId, orderId: order.id, hostname: order.hostname, amount: order.price, expiresAt: newExpiry),
            id: MessageID.derive("vps-renewed", reference))
        return .renewed(until: newExpiry)
    }
}
