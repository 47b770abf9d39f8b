import Foundation
import Messaging

/// `event.order.provisioning-failed` (PROVISIONING_FAILED): the order is FAILED; `refunded` is
/// what went back to the wallet (0 when nothing was charged).
public struct ProvisioningFailed: MessageBody, Equatable {
    public static let messageType = "event.order.provisioning-failed"
    public static let exchange = Exchange.events

    public var customerId: String
    public var orderId: UUID
    public var code: String
    public var reason: String
    public var refunded: Int64

    public init(customerId: String, orderId: UUID, code: String, reason: String, refunded: Int64) {
        self.customerId = customerId
        self.orderId = orderId
        self.code = code
        self.reason = reason
        self.refunded = refunded
    }
}
