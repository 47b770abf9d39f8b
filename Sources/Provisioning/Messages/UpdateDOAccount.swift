import Foundation
import Messaging
import OrdersContracts
import Postgres

/// Admin: deactivate or reactivate an account, set its droplet limit, make it the primary
/// (`provisioning.update-do-account`). A deactivated account gets no new droplets; its own are
/// still powered, renewed and deleted with its token.
public struct UpdateDOAccountHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<UpdateDOAccount>, context: inout HandlerContext) throws -> HandlerOutcome {
        let body = message.data
        let connection = context.connection
        guard try !connection.query("SELECT 1 FROM do_accounts WHERE id = $1 FOR UPDATE", body.accountId).isEmpty else {
            return .rejected(.doAccountNotFound, "no such account")
        }
        if body.primary == true {
            try connection.execute(
                "UPDATE do_accounts SET is_primary = false, updated_at = now() WHERE is_primary AND id <> $1", body.accountId)
        }
        try connection.execute(
            """
            UPDATE do_accounts SET active = COALESCE($2, active), droplet_limit = COALESCE($3, droplet_limit),
                is_primary = COALESCE($4, is_primary), updated_at = now()
            WHERE id = $1
            """, body.accountId, body.active, body.dropletLimit, body.primary)
        guard let view = try DOAccounts.views(on: connection).first(where: { $0.id == body.accountId.uuidString.lowercased() }) else {
            return .done
        }
        return try .done(view)
    }
}
