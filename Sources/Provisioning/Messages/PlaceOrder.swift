import Foundation
import Messaging
import OrdersContracts
import Postgres
import Wallet
import WalletContracts

/// Records the order and pays it from the wallet (`provisioning.place-order`): VPS_ORDER,
/// idempotent on the order id. Short of money, the order is FAILED with the balance, the
/// required amount and the deficit, and the command fails with INSUFFICIENT_BALANCE; paid, it is
/// PROCESSING and its provisioning starts.
public struct PlaceOrderHandler: MessageHandler {
    let provisioningDeadline: Duration

    public init(provisioningDeadline: Duration) {
        self.provisioningDeadline = provisioningDeadline
    }

    public func handle(_ message: Envelope<PlaceOrder>, context: inout HandlerContext) throws -> HandlerOutcome {
        let order = message.data
        let now = context.now
        let connection = context.connection
        if let existing = try Orders.view(order.orderId, customerId: order.customerId, on: connection) { return try .done(existing) }
        guard try Orders.insert(order, commandId: message.commandId, at: now, on: connection) else {
            return .rejected(.orderNotFound, "the order id is taken")
        }
        let actor = "customer:\(order.customerId)"
        do {
            _ = try Ledger.debit(
                order.customerId, amount: order.price, reference: .vpsOrder, referenceId: OrderFailure.reference(order.orderId, round: 1),
                description: "VPS \(order.hostname): \(order.planName), \(order.billingPeriod.rawValue.lowercased())", on: connection)
        } catch WalletError.insufficientBalance(let balance, let required) {
            let detail = FailureDetail(balance: balance, required: required, deficit: required - balance)
            let text = "balance \(balance) is less than the price \(required) (deficit \(required - balance))"
            let detailJSON = String(decoding: try JSONEncoder().encode(detail), as: UTF8.self)
            let commandId = message.commandId
            // The refusal rolls the insert back; the FAILED order stands, so the customer sees why.
            context.keepEvenIfRejected { connection in
                guard try Orders.insert(order, commandId: commandId, at: now, on: connection) else { return }
                try Orders.transition(
                    order.orderId, from: [.pending], to: .failed, actor: actor, reason: "INSUFFICIENT_BALANCE: \(text)", at: now,
                    set: "failure_code = $3, failure_reason = $4, failure_detail = $5::jsonb",
                    [ErrorCode.insufficientBalance.rawValue, text, detailJSON], on: connection)
            }
            return .rejected(.insufficientBalance, text)
        }
        // From when the worker took the payment: a backlog before it must not eat the window.
        let deadline = context.time.runAt.addingTimeInterval(Double(provisioningDeadline.components.seconds))
        try Orders.transition(
            order.orderId, from: [.pending], to: .processing, actor: actor, reason: "paid from the wallet", at: now,
            set: "paid_at = $3, provisioning_deadline = $4", [now, deadline], on: connection)
        try context.send(ProvisionOrder(orderId: order.orderId, round: 1), id: ProvisionOrder.id(orderId: order.orderId, round: 1))
        try context.send(
            OrderCreated(
                customerId: order.customerId, orderId: order.orderId, planName: order.planName, billingPeriod: order.billingPeriod,
                price: order.price, hostname: order.hostname),
            id: MessageID.derive("order-created", order.orderId.uuidString))
        guard let view = try Orders.view(order.orderId, customerId: order.customerId, on: connection) else {
            return .rejected(.orderNotFound, "the order could not be recorded")
        }
        return try .done(view)
    }
}
