import Foundation
import Messaging

/// `event.vps.renewal-failed` (VPS_RENEWAL_FAILED): auto-renewal found the wallet short; `required`
/// is the price of a period. Once per period.
public struct VPSRenewalFailed: MessageBody, Equatable {
    public static let messageType = "event.vps.renewal-failed"
    public static let exchange = Exchange.events

    public var customerId: String
    public var orderId: UUID
    public var hostname: String
    public var required: Int64
    public var balance: Int64
    public var expiresAt: Date

    public init(customerId: String, orderId: UUID, hostname: String, required: Int64, balance: Int64, expiresAt: Date) {
        self.customerId = customerId
        self.orderId = orderId
        self.hostname = hostname
        self.required = required
        self.balance = balance
        self.expiresAt = expiresAt
    }
}
