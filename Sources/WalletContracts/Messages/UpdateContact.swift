import Foundation
import Messaging

/// `payments.update-contact`: `PUT /me/contact`, where the customer's notifications go.
public struct UpdateContact: MessageBody, Equatable {
    public static let messageType = "payments.update-contact"
    public static let exchange = Exchange.commands

    public var customerId: String
    public var email: String?
    public var displayName: String?
    public var telegramChatId: String?
    public var locale: String
    /// Added compatibly: a message without it decodes as nil (Asia/Jakarta).
    public var timeZone: String?

    public init(
        customerId: String, email: String?, displayName: String?, telegramChatId: String?, locale: String, timeZone: String? = nil
    ) {
        self.customerId = customerId
        self.email = email
        self.displayName = displayName
        self.telegramChatId = telegramChatId
        self.locale = locale
        self.timeZone = timeZone
    }
}
