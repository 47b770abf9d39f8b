import Foundation
import Messaging

/// `provisioning.manage-catalog-entry`: admin, add or change an image or a region
/// (`POST /admin/images|regions`, `PATCH .../{slug}`, `DELETE .../{slug}` deactivates).
public struct ManageCatalogEntry: MessageBody, Equatable {
    public static let messageType = "provisioning.manage-catalog-entry"
    public static let exchange = Exchange.commands

    public enum Action: String, Codable, Sendable { case create, update, deactivate }

    public var action: Action
    public var kind: CatalogKind
    public var slug: String
    public var displayName: String?
    public var active: Bool?
    public var sortOrder: Int?

    public init(action: Action, kind: CatalogKind, slug: String, displayName: String?, active: Bool?, sortOrder: Int?) {
        self.action = action
        self.kind = kind
        self.slug = slug
        self.displayName = displayName
        self.active = active
        self.sortOrder = sortOrder
    }
}
