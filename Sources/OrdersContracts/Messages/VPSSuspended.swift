import Foundation
import Messaging

/// `event.vps.suspended` (VPS_SUSPENDED): expired and powered off; terminated after `graceHours`
/// unless renewed. `reason`: INSUFFICIENT_BALANCE or EXPIRED_NO_RENEWAL.
public struct VPSSuspended: MessageBody, Equatable {
    public static let messageType = "event.vps.suspended"
    public static let exchange = Exchange.events

    public var customerId: String
    public var orderId: UUID
    public var hostname: String
    public var graceHours: Int
    public var reason: String

    public init(customerId: String, orderId: UUID, hostname: String, graceHours: Int, reason: String) {
        self.customerId = customerId
        self.orderId = orderId
        self.hostname = hostname
        self.graceHours = graceHours
        self.reason = reason
    }
}
