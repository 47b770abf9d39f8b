import Foundation
import Messaging
import Postgres

/// `DELETE /wallet/deposits/{id}`: the customer gives up on a PENDING deposit.
public struct CancelDeposit: MessageBody, Equatable {
    public static let messageType = "payments.cancel-deposit"
    public static let exchange = Exchange.commands

    public var depositId: UUID
    public var customerId: String

    public init(depositId: UUID, customerId: String) {
        self.depositId = depositId
        self.customerId = customerId
    }
}

/// PENDING → CANCELED, guarded. Tripay's transaction is left to expire; a payment that still
/// arrives for it is flagged for an operator by the callback handler, never lost.
public struct CancelDepositHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<CancelDeposit>, context: inout HandlerContext) throws {
        let command = message.data
        guard try DepositQueries.find(command.depositId, customerId: command.customerId, on: context.connection) != nil else {
            throw HandlerFailure.permanent("DEPOSIT_NOT_FOUND", "no such deposit")
        }
        guard try Deposits.transition(command.depositId, from: .pending, to: .canceled, on: context.connection) else {
            throw HandlerFailure.permanent("DEPOSIT_NOT_CANCELABLE", "only a PENDING deposit can be canceled")
        }
        try context.complete(with: DepositQueries.find(command.depositId, customerId: command.customerId, on: context.connection))
    }
}
