import Foundation
import Messaging

/// `payments.claim-welcome-bonus`: `POST /promos/welcome-bonus/claim`.
public struct ClaimWelcomeBonus: MessageBody, Equatable {
    public static let messageType = "payments.claim-welcome-bonus"
    public static let exchange = Exchange.commands

    public var customerId: String

    public init(customerId: String) { self.customerId = customerId }
}
