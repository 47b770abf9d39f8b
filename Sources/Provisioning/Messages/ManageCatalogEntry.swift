import Foundation
import Messaging
import OrdersContracts
import Postgres

/// Admin: add, change or deactivate an image or a region (`provisioning.manage-catalog-entry`).
public struct ManageCatalogEntryHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<ManageCatalogEntry>, context: inout HandlerContext) throws -> HandlerOutcome {
        let command = message.data
        if let rejection = try Catalog.saveEntry(command, on: context.connection) { return .rejected(rejection) }
        guard let entry = try Catalog.entry(command.kind, command.slug, on: context.connection) else {
            return .rejected(command.kind.notFound, "no \(command.kind.rawValue) \(command.slug)")
        }
        return try .done(entry)
    }
}
