import Foundation
import Messaging
import OrdersContracts
import Postgres

/// The customer renews now (`provisioning.renew-order`): one more period by the rule in
/// `Renewal`, from the command's time; short of money, refused with INSUFFICIENT_BALANCE.
public struct RenewOrderHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<RenewOrder>, context: inout HandlerContext) throws -> HandlerOutcome {
        let body = message.data
        guard let order = try Orders.record(body.orderId, lock: true, on: context.connection), order.customerId == body.customerId else {
            return .rejected(.orderNotFound, "no such order")
        }
        guard [.active, .expiringSoon, .suspended].contains(order.status), let expiresAt = order.expiresAt else {
            return .rejected(.invalidOrderState, "an order that is \(order.status.rawValue) cannot be renewed")
        }
        switch try Renewal.renew(order, periodEnd: expiresAt, now: context.now, actor: "customer:\(order.customerId)", context: &context) {
        case .insufficientBalance(let balance, let required):
            return .rejected(.insufficientBalance, "balance \(balance) is less than the price \(required) (deficit \(required - balance))")
        case .renewed, .alreadyPaid:
            return try .done(Orders.view(order.id, customerId: order.customerId, on: context.connection))
        }
    }
}
