import Foundation
import Messaging

/// `provisioning.follow-droplet-action`: sent by the provisioner after DigitalOcean accepted a
/// droplet action: poll it until `completed` or `errored`, then record the droplet's state.
public struct FollowDropletAction: MessageBody, Equatable {
    public static let messageType = "provisioning.follow-droplet-action"
    public static let exchange = Exchange.commands

    public var actionId: UUID
    public var orderId: UUID
    public var doActionId: Int64

    public init(actionId: UUID, orderId: UUID, doActionId: Int64) {
        self.actionId = actionId
        self.orderId = orderId
        self.doActionId = doActionId
    }

    public static func id(actionId: UUID) -> UUID {
        MessageID.derive("follow-droplet-action", actionId.uuidString)
    }
}
