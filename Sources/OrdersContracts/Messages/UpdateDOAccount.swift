import Foundation
import Messaging

/// `provisioning.update-do-account`: admin, `PATCH /admin/do-accounts/{id}`: deactivate (no new
/// droplets; its droplets are still managed with its token), reactivate, set the droplet limit,
/// make it the primary.
public struct UpdateDOAccount: MessageBody, Equatable {
    public static let messageType = "provisioning.update-do-account"
    public static let exchange = Exchange.commands

    public var accountId: UUID
    public var active: Bool?
    public var dropletLimit: Int?
    public var primary: Bool?

    public init(accountId: UUID, active: Bool?, dropletLimit: Int?, primary: Bool?) {
        self.accountId = accountId
        self.active = active
        self.dropletLimit = dropletLimit
        self.primary = primary
    }
}
