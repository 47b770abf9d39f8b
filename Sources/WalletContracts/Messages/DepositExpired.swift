import Foundation
import Messaging

/// `event.deposit.expired` (DEPOSIT_EXPIRED, also for FAILED): the deposit ended unpaid.
public struct DepositExpired: MessageBody, Equatable {
    public static let messageType = "event.deposit.expired"
    public static let exchange = Exchange.events

    public var customerId: String
    public var depositId: UUID
    public var reference: String
    public var amount: Int64
    /// EXPIRED or FAILED.
    public var status: DepositStatus

    public init(customerId: String, depositId: UUID, reference: String, amount: Int64, status: DepositStatus) {
        self.customerId = customerId
        self.depositId = depositId
        self.reference = reference
        self.amount = amount
        self.status = status
    }
}
