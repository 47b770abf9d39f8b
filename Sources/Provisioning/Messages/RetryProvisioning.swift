import Foundation
import Messaging
import OrdersContracts
import Postgres
import Wallet
import WalletContracts

/// An admin provisions a FAILED order again (`provisioning.retry-provisioning`), charging
/// nothing: only an order that was paid (it has its VPS_ORDER debit) may be retried; its refund
/// stands. A new round starts, with its own deadline and message ids.
public struct RetryProvisioningHandler: MessageHandler {
    let provisioningDeadline: Duration

    public init(provisioningDeadline: Duration) {
        self.provisioningDeadline = provisioningDeadline
    }

    public func handle(_ message: Envelope<RetryProvisioning>, context: inout HandlerContext) throws -> HandlerOutcome {
        let body = message.data
        guard let order = try Orders.record(body.orderId, lock: true, on: context.connection) else {
            return .rejected(.orderNotFound, "no such order")
        }
        guard order.status == .failed else {
            return .rejected(.invalidOrderState, "only a FAILED order can be retried; this one is \(order.status.rawValue)")
        }
        guard try Ledger.entry(reference: .vpsOrder, referenceId: OrderFailure.reference(order.id), on: context.connection) != nil else {
            return .rejected(.invalidOrderState, "the order was never paid; the customer orders again")
        }
        let round = order.provisioningRound + 1
        let now = context.now
        let deadline = now.addingTimeInterval(Double(provisioningDeadline.components.seconds))
        try Orders.transition(
            order.id, from: [.failed], to: .processing, actor: "admin:\(body.admin)", reason: "provisioning retried (no charge)", at: now,
            set:
                "provisioning_round = $3, provisioning_deadline = $4, failure_code = NULL, failure_reason = NULL, failure_detail = NULL, droplet_id = NULL, create_action_id = NULL, create_attempts = 0",
            [round, deadline], on: context.connection)
        try context.send(ProvisionOrder(orderId: order.id, round: round), id: ProvisionOrder.id(orderId: order.id, round: round))
        return .done
    }
}
