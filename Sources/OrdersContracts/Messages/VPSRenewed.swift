import Foundation
import Messaging

/// `event.vps.renewed` (VPS_RENEWED): one more period was paid; the VPS now expires at `expiresAt`.
public struct VPSRenewed: MessageBody, Equatable {
    public static let messageType = "event.vps.renewed"
    public static let exchange = Exchange.events

    public var customerId: String
    public var orderId: UUID
    public var hostname: String
    public var amount: Int64
    public var expiresAt: Date

    public init(customerId: String, orderId: UUID, hostname: String, amount: Int64, expiresAt: Date) {
        self.customerId = customerId
        self.orderId = orderId
        self.hostname = hostname
        self.amount = amount
        self.expiresAt = expiresAt
    }
}
