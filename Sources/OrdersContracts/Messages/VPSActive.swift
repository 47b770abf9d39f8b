import Foundation
import Messaging

/// `event.vps.active` (VPS_ACTIVE): the droplet is up with a public IPv4.
public struct VPSActive: MessageBody, Equatable {
    public static let messageType = "event.vps.active"
    public static let exchange = Exchange.events

    public var customerId: String
    public var orderId: UUID
    public var hostname: String
    public var publicIpv4: String
    public var expiresAt: Date

    public init(customerId: String, orderId: UUID, hostname: String, publicIpv4: String, expiresAt: Date) {
        self.customerId = customerId
        self.orderId = orderId
        self.hostname = hostname
        self.publicIpv4 = publicIpv4
        self.expiresAt = expiresAt
    }
}
