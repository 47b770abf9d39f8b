import Foundation
import Messaging

/// `payments.adjust-wallet`: admin, a signed correction of a customer's balance, through the ledger.
public struct AdjustWallet: MessageBody, Equatable {
    public static let messageType = "payments.adjust-wallet"
    public static let exchange = Exchange.commands

    public var customerId: String
    /// Positive credits, negative debits.
    public var amount: Int64
    public var description: String
    public var adminId: String

    public init(customerId: String, amount: Int64, description: String, adminId: String) {
        self.customerId = customerId
        self.amount = amount
        self.description = description
        self.adminId = adminId
    }
}
