import Foundation
import Messaging

/// `provisioning.destroy-droplet`: sent by the provisioner when a droplet it made belongs to no
/// order any more (a slow create that lost its lease while the order moved on): delete it at
/// DigitalOcean, so nothing is left running and billed.
public struct DestroyDroplet: MessageBody, Equatable {
    public static let messageType = "provisioning.destroy-droplet"
    public static let exchange = Exchange.commands

    public var accountId: UUID
    public var dropletId: Int64
    public var orderId: UUID
    public var reason: String

    public init(accountId: UUID, dropletId: Int64, orderId: UUID, reason: String) {
        self.accountId = accountId
        self.dropletId = dropletId
        self.orderId = orderId
        self.reason = reason
    }

    /// One per droplet and day: a later sweep can ask again once an earlier ask found it owned.
    public static func id(accountId: UUID, dropletId: Int64, at time: Date) -> UUID {
        MessageID.derive("destroy-droplet", "\(accountId.uuidString):\(dropletId):\(Int(time.timeIntervalSince1970) / 86_400)")
    }
}
