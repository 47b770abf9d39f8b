import Foundation
import Messaging

/// `provisioning.request-droplet-action`: `POST /orders/{id}/power-on|power-off|reboot|rebuild`.
public struct RequestDropletAction: MessageBody, Equatable {
    public static let messageType = "provisioning.request-droplet-action"
    public static let exchange = Exchange.commands

    public enum Kind: String, Codable, Sendable, CaseIterable {
        case powerOn = "power_on", powerOff = "power_off", reboot, rebuild
    }

    /// The action's id, derived from the command's.
    public var actionId: UUID
    public var orderId: UUID
    public var customerId: String
    public var action: Kind
    /// For a rebuild: a catalog image slug.
    public var image: String?
    /// The lifecycle's power-off at suspension: done only while the order is still SUSPENDED (a
    /// renewal that came first must not be undone).
    public var onlyWhileSuspended: Bool?

    public init(actionId: UUID, orderId: UUID, customerId: String, action: Kind, image: String?, onlyWhileSuspended: Bool? = nil) {
        self.actionId = actionId
        self.orderId = orderId
        self.customerId = customerId
        self.action = action
        self.image = image
        self.onlyWhileSuspended = onlyWhileSuspended
    }

    public static func actionId(for commandId: UUID) -> UUID {
        MessageID.derive("droplet-action", commandId.uuidString)
    }
}
