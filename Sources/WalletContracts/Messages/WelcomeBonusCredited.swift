import Foundation
import Messaging

/// `event.welcome-bonus.credited` (WELCOME_BONUS_CREDITED).
public struct WelcomeBonusCredited: MessageBody, Equatable {
    public static let messageType = "event.welcome-bonus.credited"
    public static let exchange = Exchange.events

    public var customerId: String
    public var promoCode: String
    public var amount: Int64
    public var balanceAfter: Int64

    public init(customerId: String, promoCode: String, amount: Int64, balanceAfter: Int64) {
        self.customerId = customerId
        self.promoCode = promoCode
        self.amount = amount
        self.balanceAfter = balanceAfter
    }
}
