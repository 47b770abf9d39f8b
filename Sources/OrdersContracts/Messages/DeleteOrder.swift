import Foundation
import Messaging

/// `provisioning.delete-order`: `DELETE /orders/{id}` (no refund): destroy the droplet and
/// terminate the order.
public struct DeleteOrder: MessageBody, Equatable {
    public static let messageType = "provisioning.delete-order"
    public static let exchange = Exchange.commands

    public var orderId: UUID
    public var customerId: String

    public init(orderId: UUID, customerId: String) {
        self.orderId = orderId
        self.customerId = customerId
    }
}
