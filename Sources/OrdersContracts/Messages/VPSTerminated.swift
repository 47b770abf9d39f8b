import Foundation
import Messaging

/// `event.vps.terminated` (VPS_TERMINATED): the droplet is destroyed and the order TERMINATED.
public struct VPSTerminated: MessageBody, Equatable {
    public static let messageType = "event.vps.terminated"
    public static let exchange = Exchange.events

    public var customerId: String
    public var orderId: UUID
    public var hostname: String
    /// USER_DELETED, EXPIRED_NO_RENEWAL, INSUFFICIENT_BALANCE, ADMIN_TERMINATED, PROVIDER_ISSUE, POLICY_VIOLATION.
    public var reason: String

    public init(customerId: String, orderId: UUID, hostname: String, reason: String) {
        self.customerId = customerId
        self.orderId = orderId
        self.hostname = hostname
        self.reason = reason
    }
}
