import Foundation
import Messaging

/// `provisioning.set-auto-renew`: `PATCH /orders/{id}` `{autoRenew}`.
public struct SetAutoRenew: MessageBody, Equatable {
    public static let messageType = "provisioning.set-auto-renew"
    public static let exchange = Exchange.commands

    public var orderId: UUID
    public var customerId: String
    public var autoRenew: Bool

    public init(orderId: UUID, customerId: String, autoRenew: Bool) {
        self.orderId = orderId
        self.customerId = customerId
        self.autoRenew = autoRenew
    }
}
