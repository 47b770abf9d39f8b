import Foundation
import Messaging

/// `provisioning.follow-provisioning`: sent by the provisioner once a droplet exists for the
/// order: look at it (again and again, without holding a consumer) until it is `active` with a
/// public IPv4, its create action ends `errored`, or the deadline passes.
public struct FollowProvisioning: MessageBody, Equatable {
    public static let messageType = "provisioning.follow-provisioning"
    public static let exchange = Exchange.commands

    public var orderId: UUID
    public var round: Int
    public var dropletId: Int64

    public init(orderId: UUID, round: Int, dropletId: Int64) {
        self.orderId = orderId
        self.round = round
        self.dropletId = dropletId
    }

    public static func id(orderId: UUID, round: Int) -> UUID {
        MessageID.derive("follow-provisioning", "\(orderId.uuidString):\(round)")
    }
}
