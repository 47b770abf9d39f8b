import DigitalOcean
import Foundation
import Messaging
import OrdersContracts
import Postgres

/// Powers a customer's droplet on or off, reboots or rebuilds it
/// (`provisioning.request-droplet-action`): only for their own ACTIVE, EXPIRING_SOON or SUSPENDED
/// order with a droplet; a rebuild's image must be an active catalog image. DigitalOcean's action
/// is recorded and followed (`provisioning.follow-droplet-action`); the order shows the new power
/// state only once it completed.
public struct RequestDropletActionHandler: PreparingMessageHandler {
    let gateway: DigitalOceanGateway

    public init(gateway: DigitalOceanGateway) {
        self.gateway = gateway
    }

    public func prepare(_ message: Envelope<RequestDropletAction>, context: PrepareContext) async throws -> Preparation<DropletAction> {
        let body = message.data
        let (order, recorded, imageActive) = try await context.pool.withConnection { connection in
            (
                try Orders.record(body.orderId, on: connection),
                try !connection.query("SELECT 1 FROM order_actions WHERE id = $1", body.actionId).isEmpty,
                try body.image.map { try Catalog.entry(.image, $0, on: connection)?.active ?? false } ?? true
            )
        }
        guard let order, order.customerId == body.customerId else { return .finished(.rejected(.orderNotFound, "no such order")) }
        if recorded { return .finished(.done) }
        guard order.status.allowsDropletActions else {
            return .finished(
                .rejected(.invalidOrderState, "an order that is \(order.status.rawValue) has no droplet to \(body.action.rawValue)"))
        }
        if body.action == .rebuild, body.image == nil || !imageActive {
            return .finished(.rejected(.imageNotFound, "no active image \(body.image ?? "(none)")"))
        }
        guard let dropletId = order.dropletId, let accountId = order.accountId,
            let account = try await context.pool.withConnection({ try DOAccounts.account(accountId, on: $0) })
        else { return .finished(.rejected(.invalidOrderState, "the order has no droplet")) }
        let (kind, image) = (body.action.rawValue, body.image)
        do {
            return try await waitOnTransient(until: context.time.runAt.addingTimeInterval(3600)) {
                guard
                    let action = try await gateway.call(
                        account, { try await $0.postAction(dropletId: dropletId, type: kind, image: image, token: $1) })
                else { return .finished(.rejected(.invalidOrderState, "the droplet is gone at DigitalOcean")) }
                return .ready(action)
            }
        } catch DigitalOceanError.rejected(_, _, let text) {
            return .finished(.rejected(.dropletActionFailed, "DigitalOcean refused the \(kind): \(text)"))
        }
    }

    public func handle(_ message: Envelope<RequestDropletAction>, prepared action: DropletAction, context: inout HandlerContext) throws
        -> HandlerOutcome
    {
        let body = message.data
        try context.connection.execute(
            """
            INSERT INTO order_actions (id, order_id, action, image, status, do_action_id, requested_at)
            VALUES ($1, $2, $3, $4, 'in-progress', $5, $6) ON CONFLICT (id) DO NOTHING
            """, body.actionId, body.orderId, body.action.rawValue, body.image, action.id, context.now)
        try context.send(
            FollowDropletAction(actionId: body.actionId, orderId: body.orderId, doActionId: action.id),
            id: FollowDropletAction.id(actionId: body.actionId))
        return try .done(["actionId": body.actionId.uuidString.lowercased(), "status": "in-progress"])
    }
}
