import Foundation
import Messaging

/// `provisioning.provision-order`: sent by the provisioner itself once an order is paid (or an
/// admin retried it): choose an account, adopt the droplet tagged for the order or create it.
public struct ProvisionOrder: MessageBody, Equatable {
    public static let messageType = "provisioning.provision-order"
    public static let exchange = Exchange.commands

    public var orderId: UUID
    /// 1, then one more per admin retry: each round's messages have their own ids.
    public var round: Int

    public init(orderId: UUID, round: Int) {
        self.orderId = orderId
        self.round = round
    }

    public static func id(orderId: UUID, round: Int) -> UUID {
        MessageID.derive("provision-order", "\(orderId.uuidString):\(round)")
    }
}
