import Foundation
import Messaging

/// `provisioning.add-do-account`: admin, `POST /admin/do-accounts`. The token travels sealed
/// (AES-256-GCM under ARMADA_ENCRYPTION_KEY, sealed by the ingress): never in clear on the broker,
/// in the outbox or in a log. The provisioner checks it with `GET /v2/account` before storing it.
public struct AddDOAccount: MessageBody, Equatable {
    public static let messageType = "provisioning.add-do-account"
    public static let exchange = Exchange.commands

    public var accountId: UUID
    public var name: String
    /// Base64 of nonce ‖ ciphertext ‖ tag.
    public var sealedToken: String
    /// SHA-256 of the token, hex: the same token is not added twice.
    public var fingerprint: String
    public var dropletLimit: Int
    public var primary: Bool

    public init(accountId: UUID, name: String, sealedToken: String, fingerprint: String, dropletLimit: Int, primary: Bool) {
        self.accountId = accountId
        self.name = name
        self.sealedToken = sealedToken
        self.fingerprint = fingerprint
        self.dropletLimit = dropletLimit
        self.primary = primary
    }

    public static func accountId(for commandId: UUID) -> UUID {
        MessageID.derive("do-account", commandId.uuidString)
    }
}
