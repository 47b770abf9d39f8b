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
///
/// Posting an action twice is not harmless (a rebuild erases the disk), so the action's row is
/// claimed before the post (one delivery at a time), and a run after one that got no answer
/// looks at the droplet's actions and adopts the one it finds instead of posting again.
public struct RequestDropletActionHandler: PreparingMessageHandler {
    let gateway: DigitalOceanGateway

    public init(gateway: DigitalOceanGateway) {
        self.gateway = gateway
    }

    public func prepare(_ message: Envelope<RequestDropletAction>, context: PrepareContext) async throws -> Preparation<DropletAction> {
        let body = message.data
        let (order, imageActive) = try await context.pool.withConnection { connection in
            (
                try Orders.record(body.orderId, on: connection),
                try body.image.map { try Catalog.entry(.image, $0, on: connection)?.active ?? false } ?? true
            )
        }
        guard let order, order.customerId == body.customerId else { return .finished(.rejected(.orderNotFound, "no such order")) }
        if body.onlyWhileSuspended == true, order.status != .suspended {
            context.logger.info("suspension power-off skipped: the order is no longer suspended", metadata: ["order_id": "\(order.id)"])
            return .finished(.done)
        }
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
        let giveUpAt = message.occurredAt.addingTimeInterval(3600)
        let claim = try await context.pool.withConnection { try OrderActions.claim(body, at: context.time.runAt, on: $0) }
        switch claim {
        case .recorded: return .finished(.done)
        case .held:
            return .finished(.again(after: .seconds(5), until: giveUpAt, because: "another delivery is posting this action"))
        case .claimed(let first, let requestedAt):
            let (kind, image) = (body.action.rawValue, body.image)
            do {
                return try await waitOnTransient(until: giveUpAt) {
                    if !first {
                        // An earlier run may have posted it without hearing back.
                        let earlier = try await gateway.call(account, { try await $0.dropletActions(dropletId: dropletId, token: $1) })
                        // Not one another request of this order already recorded as its own.
                        let taken = try await context.pool.withConnection { connection in
                            Set(
                                try connection.query(
                                    "SELECT do_action_id FROM order_actions WHERE order_id = $1 AND do_action_id IS NOT NULL", body.orderId
                                ).map { try $0.decode("do_action_id", as: Int64.self) })
                        }
                        if let found = earlier.first(where: {
                            $0.type == kind && !taken.contains($0.id) && Self.started($0, since: requestedAt)
                        }) {
                            context.logger.notice("adopting the action an earlier run posted", metadata: ["do_action": "\(found.id)"])
                            return .ready(found)
                        }
                    }
                    guard
                        let action = try await gateway.call(
                            account, { try await $0.postAction(dropletId: dropletId, type: kind, image: image, token: $1) })
                    else {
                        try await context.pool.withConnection { try OrderActions.refused(body.actionId, "the droplet is gone", on: $0) }
                        return .finished(.rejected(.invalidOrderState, "the droplet is gone at DigitalOcean"))
                    }
                    return .ready(action)
                }
            } catch DigitalOceanError.rejected(_, _, let text) {
                try await context.pool.withConnection { try OrderActions.refused(body.actionId, text, on: $0) }
                return .finished(.rejected(.dropletActionFailed, "DigitalOcean refused the \(kind): \(text)"))
            }
        }
    }

    static func started(_ action: DropletAction, since: Date) -> Bool {
        guard let text = action.startedAt, let started = ISO8601DateFormatter().date(from: text) else { return false }
        return started >= since.addingTimeInterval(-5)
    }

    public func handle(_ message: Envelope<RequestDropletAction>, prepared action: DropletAction, context: inout HandlerContext) throws
        -> HandlerOutcome
    {
        let body = message.data
        try context.connection.execute(
            "UPDATE order_actions SET status = 'in-progress', do_action_id = $2, claim_until = NULL WHERE id = $1 AND status = 'requested'",
            body.actionId, action.id)
        try context.send(
            FollowDropletAction(actionId: body.actionId, orderId: body.orderId, doActionId: action.id),
            id: FollowDropletAction.id(actionId: body.actionId))
        return try .done(["actionId": body.actionId.uuidString.lowercased(), "status": "in-progress"])
    }
}

/// The `order_actions` table: a customer's droplet actions.
enum OrderActions {
    enum Claim {
        /// Posted and recorded already.
        case recorded
        /// Another delivery is posting it.
        case held
        /// This run may post it; `first` unless an earlier run claimed it (and may have posted).
        case claimed(first: Bool, requestedAt: Date)
    }

    /// DigitalOcean refused the action: recorded as errored, with its words.
    static func refused(_ id: UUID, _ error: String, on connection: PGConnection) throws {
        try connection.execute(
            "UPDATE order_actions SET status = 'errored', error = left($2, 500), claim_until = NULL WHERE id = $1 AND status = 'requested'",
            id, error)
    }

    static func claim(_ body: RequestDropletAction, at now: Date, on connection: PGConnection) throws -> Claim {
        if let row = try connection.query(
            """
            INSERT INTO order_actions (id, order_id, action, image, status, requested_at, claim_until)
            VALUES ($1, $2, $3, $4, 'requested', $5, now() + interval '120 seconds')
            ON CONFLICT (id) DO UPDATE SET claim_until = now() + interval '120 seconds'
                WHERE order_actions.status = 'requested' AND order_actions.claim_until < now()
            RETURNING (xmax = 0) AS first, requested_at
            """, body.actionId, body.orderId, body.action.rawValue, body.image, now
        ).first {
            return .claimed(first: try row.decode("first"), requestedAt: try row.decode("requested_at"))
        }
        let status: String? = try connection.query("SELECT status FROM order_actions WHERE id = $1", body.actionId).first?.decode("status")
        return status == "requested" ? .held : .recorded
    }
}
