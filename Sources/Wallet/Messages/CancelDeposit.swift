import Foundation
import Messaging
import WalletContracts

/// PENDING → CANCELED, guarded (`payments.cancel-deposit`). Tripay's transaction is left to
/// expire; a payment that still arrives for it is flagged for an operator by the callback
/// handler, never lost.
public struct CancelDepositHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<CancelDeposit>, context: inout HandlerContext) throws -> HandlerOutcome {
        let command = message.data
        guard try Deposits.view(command.depositId, customerId: command.customerId, on: context.connection) != nil else {
            return .rejected(.depositNotFound, "no such deposit")
        }
        guard try Deposits.transition(command.depositId, from: .pending, to: .canceled, on: context.connection) else {
            return .rejected(.depositNotCancelable, "only a PENDING deposit can be canceled")
        }
        return try .done(Deposits.view(command.depositId, customerId: command.customerId, on: context.connection))
    }
}
