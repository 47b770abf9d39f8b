import Foundation
import Messaging

/// `provisioning.place-order`: `POST /orders`. The ingress checked the catalog and priced the
/// order; the provisioner records it, debits the wallet and starts provisioning.
public struct PlaceOrder: MessageBody, Equatable {
    public static let messageType = "provisioning.place-order"
    public static let exchange = Exchange.commands

    public var orderId: UUID
    public var customerId: String
    public var planId: UUID
    public var planName: String
    public var sizeSlug: String
    public var image: String
    public var region: String
    public var billingPeriod: BillingPeriod
    /// The catalog's price at order time; the order keeps it.
    public var price: Int64
    public var hostname: String
    public var sshKeys: [String]
    public var autoRenew: Bool

    public init(
        orderId: UUID, customerId: String, planId: UUID, planName: String, sizeSlug: String, image: String, region: String,
        billingPeriod: BillingPeriod, price: Int64, hostname: String, sshKeys: [String], autoRenew: Bool
    ) {
        self.orderId = orderId
        self.customerId = customerId
        self.planId = planId
        self.planName = planName
        self.sizeSlug = sizeSlug
        self.image = image
        self.region = region
        self.billingPeriod = billingPeriod
        self.price = price
        self.hostname = hostname
        self.sshKeys = sshKeys
        self.autoRenew = autoRenew
    }

    /// The order's id, derived from the command's, so a retried request names the same order.
    public static func orderId(for commandId: UUID) -> UUID {
        MessageID.derive("order", commandId.uuidString)
    }

    /// `vps-` and the first 8 hex digits of the order id: the droplet's name when none was given.
    public static func defaultHostname(for orderId: UUID) -> String {
        "vps-" + orderId.uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(8)
    }
}
