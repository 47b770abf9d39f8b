import Foundation
import Messaging

/// `provisioning.renew-order`: `POST /orders/{id}/renew`, the customer's "renew now": one more
/// period, paid from the wallet (VPS_RENEWAL, once per period end), from the current expiry if it
/// is still ahead, else from the time of the command. A SUSPENDED VPS is ACTIVE again and powered on.
public struct RenewOrder: MessageBody, Equatable {
    public static let messageType = "provisioning.renew-order"
    public static let exchange = Exchange.commands

    public var orderId: UUID
    public var customerId: String

    public init(orderId: UUID, customerId: String) {
        self.orderId = orderId
        self.customerId = customerId
    }

    /// The VPS_RENEWAL reference of the period that ends at `periodEnd`: `<order id>:<ISO 8601>`.
    public static func reference(orderId: UUID, periodEnd: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return "\(orderId.uuidString.lowercased()):\(formatter.string(from: periodEnd.wholeSeconds))"
    }
}
