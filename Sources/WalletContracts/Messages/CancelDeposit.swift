import Foundation
import Messaging

/// `payments.cancel-deposit`: `DELETE /wallet/deposits/{id}`, the customer gives up on a
/// PENDING deposit.
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
