import Foundation
import Messaging

/// `event.vps.expiring-soon` (VPS_EXPIRING_SOON): a reminder; `thresholdHours` is the reminder
/// (168, 72, 24, 8), `hoursLeft` the hours actually left (urgent at ≤ 8).
public struct VPSExpiringSoon: MessageBody, Equatable {
    public static let messageType = "event.vps.expiring-soon"
    public static let exchange = Exchange.events

    public var customerId: String
    public var orderId: UUID
    public var hostname: String
    public var thresholdHours: Int
    public var hoursLeft: Int
    public var expiresAt: Date
    public var autoRenew: Bool
    public var price: Int64

    public init(
        customerId: String, orderId: UUID, hostname: String, thresholdHours: Int, hoursLeft: Int, expiresAt: Date, autoRenew: Bool,
        price: Int64
    ) {
        self.customerId = customerId
        self.orderId = orderId
        self.hostname = hostname
        self.thresholdHours = thresholdHours
        self.hoursLeft = hoursLeft
        self.expiresAt = expiresAt
        self.autoRenew = autoRenew
        self.price = price
    }
}
