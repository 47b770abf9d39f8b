import Foundation
import Messaging

/// `event.deposit.paid-late`: an operator alert — money arrived for a deposit we had already
/// closed (EXPIRED, CANCELED, FAILED). The wallet was credited all the same (DEPOSIT_PAID
/// follows as usual); an operator should look at why the deposit was closed.
public struct DepositPaidLate: MessageBody, Equatable {
    public static let messageType = "event.deposit.paid-late"
    public static let exchange = Exchange.events

    public var customerId: String
    public var depositId: UUID
    public var reference: String
    public var amount: Int64
    /// What the deposit was when the money arrived.
    public var closedAs: DepositStatus

    public init(customerId: String, depositId: UUID, reference: String, amount: Int64, closedAs: DepositStatus) {
        self.customerId = customerId
        self.depositId = depositId
        self.reference = reference
        self.amount = amount
        self.closedAs = closedAs
    }
}
