import Foundation
import Messaging

/// `event.deposit.paid` (DEPOSIT_PAID): the wallet was credited.
public struct DepositPaid: MessageBody, Equatable {
    public static let messageType = "event.deposit.paid"
    public static let exchange = Exchange.events

    public var customerId: String
    public var depositId: UUID
    public var reference: String
    public var amount: Int64
    public var bonus: Int64
    public var balanceAfter: Int64

    public init(customerId: String, depositId: UUID, reference: String, amount: Int64, bonus: Int64, balanceAfter: Int64) {
        self.customerId = customerId
        self.depositId = depositId
        self.reference = reference
        self.amount = amount
        self.bonus = bonus
        self.balanceAfter = balanceAfter
    }
}
