import Foundation
import Messaging
import OrdersContracts
import Postgres
import Wallet
import WalletContracts

/// Ends an order that did not come up: refund exactly once, FAILED with the reason, the account's
/// count given back, PROVISIONING_FAILED out through the outbox. In the handler's transaction.
enum OrderFailure {
    static let actor = "system:provisioner"

    /// The reference id of a provisioning round's VPS_ORDER debit and of its refund: the order id,
    /// and `<order id>:r<round>` for a round an admin started again. Each round that fails
    /// refunds its own debit, once; a VPS that comes up has cost exactly one debit net.
    static func reference(_ orderId: UUID, round: Int) -> String {
        round == 1 ? orderId.uuidString.lowercased() : "\(orderId.uuidString.lowercased()):r\(round)"
    }

    @discardableResult
    static func fail(_ order: OrderRecord, code: ErrorCode, reason: String, context: inout HandlerContext) throws -> Bool {
        let connection = context.connection
        guard
            try Orders.transition(
                order.id, from: [.pending, .processing, .provisioning], to: .failed, actor: actor, reason: "\(code): \(reason)",
                at: context.time.runAt,
                set:
                    "failure_code = $3, failure_reason = $4, droplet_status = NULL, public_ipv4 = NULL, create_holder = NULL, create_lease_until = NULL",
                [code.rawValue, String(reason.prefix(1000))], on: connection)
        else { return false }
        var refunded: Int64 = 0
        let referenceId = reference(order.id, round: order.provisioningRound)
        if let debit = try Ledger.entry(reference: .vpsOrder, referenceId: referenceId, on: connection) {
            let posting = try Ledger.credit(
                order.customerId, amount: -debit.amount, reference: .provisionFailedRefund, referenceId: referenceId,
                description: "Refund: VPS \(order.hostname) could not be provisioned", on: connection)
            if case .applied = posting { refunded = -debit.amount }
        }
        try Orders.uncount(order.id, on: connection)
        try context.send(
            ProvisioningFailed(
                customerId: order.customerId, orderId: order.id, code: code.rawValue, reason: reason, refunded: refunded),
            id: MessageID.derive("provisioning-failed", "\(order.id.uuidString):\(order.provisioningRound)"))
        context.logger.warning(
            "order failed", metadata: ["order_id": "\(order.id)", "code": "\(code)", "reason": "\(reason)", "refunded": "\(refunded)"])
        return true
    }
}
