import Foundation
import Messaging

/// `provisioning.retry-provisioning`: admin, `POST /admin/orders/{id}/retry-provisioning`: a
/// FAILED, paid order is provisioned again, charging nothing.
public struct RetryProvisioning: MessageBody, Equatable {
    public static let messageType = "provisioning.retry-provisioning"
    public static let exchange = Exchange.commands

    public var orderId: UUID
    /// The admin's `sub`, for the history.
    public var admin: String

    public init(orderId: UUID, admin: String) {
        self.orderId = orderId
        self.admin = admin
    }
}
