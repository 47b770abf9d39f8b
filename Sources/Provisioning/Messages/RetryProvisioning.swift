import Foundation
import Messaging
import OrdersContracts
import Postgres
import Wallet
import WalletContracts

/// An admin provisions a FAILED order again (`provisioning.retry-provisioning`) in a new round,
/// with its own deadline and message ids. No second charge: the failed round's price went back to
/// the wallet (PROVISION_FAILED_REFUND), so the new round takes it once more, and refunds it
/// again if it fails too; a VPS that comes up has cost its price exactly once. Only an order that
/// was paid once may be retried (one refused for lack of balance is ordered again by its
/// customer). Short of money, the retry is refused (INSUFFICIENT_BALANCE) and the order stays FAILED.
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
        guard try Ledger.entry(reference: .vpsOrder, referenceId: OrderFailure.reference(order.id, round: 1), on: context.connection) != nil
        else {
            return .rejected(.invalidOrderState, "the order was never paid (it failed for lack of balance); the customer orders again")
        }
        let round = order.provisioningRound + 1
        do {
            _ = try Ledger.debit(
                order.customerId, amount: order.price, reference: .vpsOrder, referenceId: OrderFailure.reference(order.id, round: round),
                description: "VPS \(order.hostname): provisioning retried", on: context.connection)
        } catch WalletError.insufficientBalance(let balance, let required) {
            return .rejected(.insufficientBalance, "balance \(balance) is less than the price \(required) (deficit \(required - balance))")
        }
        let now = context.now
        let deadline = context.time.runAt.addingTimeInterval(Double(provisioningDeadline.components.seconds))
        try Orders.transition(
            order.id, from: [.failed], to: .processing, actor: "admin:\(body.admin)", reason: "provisioning retried (round \(round))",
            at: now,
            set:
                "provisioning_round = $3, provisioning_deadline = $4, failure_code = NULL, failure_reason = NULL, failure_detail = NULL, droplet_id = NULL, create_action_id = NULL, create_attempts = 0",
            [round, deadline], on: context.connection)
        try context.send(ProvisionOrder(orderId: order.id, round: round), id: ProvisionOrder.id(orderId: order.id, round: round))
        return .done
    }
}
