import Foundation
import Messaging

/// `payments.create-deposit`: `POST /wallet/deposits`, carried out by the payments worker.
public struct CreateDeposit: MessageBody, Equatable {
    public static let messageType = "payments.create-deposit"
    public static let exchange = Exchange.commands

    public var depositId: UUID
    public var customerId: String
    public var amount: Int64
    public var method: String
    public var promoCode: String?

    public init(depositId: UUID, customerId: String, amount: Int64, method: String, promoCode: String?) {
        self.depositId = depositId
        self.customerId = customerId
        self.amount = amount
        self.method = method
        self.promoCode = promoCode
    }

    /// The deposit's id, derived from the command's, so a retried request names the same deposit.
    public static func depositId(for commandId: UUID) -> UUID {
        MessageID.derive("deposit", commandId.uuidString)
    }
}
