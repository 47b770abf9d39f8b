import DigitalOcean
import Foundation
import Messaging
import OrdersContracts
import Postgres

/// Follows a droplet action to its end (`provisioning.follow-droplet-action`) and records it;
/// once completed, the order shows the droplet's status as DigitalOcean then reports it.
public struct FollowDropletActionHandler: PreparingMessageHandler {
    let gateway: DigitalOceanGateway
    let settings: ProvisionerSettings

    public init(gateway: DigitalOceanGateway, settings: ProvisionerSettings) {
        self.gateway = gateway
        self.settings = settings
    }

    public struct Finished: Sendable {
        var status: DropletAction.Status
        var dropletStatus: String?
    }

    public func prepare(_ message: Envelope<FollowDropletAction>, context: PrepareContext) async throws -> Preparation<Finished> {
        let body = message.data
        guard let order = try await context.pool.withConnection({ try Orders.record(body.orderId, on: $0) }),
            let accountId = order.accountId, let dropletId = order.dropletId,
            let account = try await context.pool.withConnection({ try DOAccounts.account(accountId, on: $0) })
        else { return .finished(.done) }
        let giveUpAt = message.occurredAt.addingTimeInterval(3 * 3600)
        return try await waitOnTransient(until: giveUpAt) {
            guard let action = try await gateway.call(account, { try await $0.action(id: body.doActionId, token: $1) }) else {
                return .ready(Finished(status: .errored, dropletStatus: nil))
            }
            switch action.status {
            case .inProgress:
                return .finished(.again(after: settings.pollInterval, until: giveUpAt, because: "action \(body.doActionId) in progress"))
            case .errored:
                return .ready(Finished(status: .errored, dropletStatus: nil))
            case .completed:
                let droplet = try await gateway.call(account, { try await $0.droplet(id: dropletId, token: $1) })
                return .ready(Finished(status: .completed, dropletStatus: droplet?.status))
            }
        }
    }

    public func handle(_ message: Envelope<FollowDropletAction>, prepared: Finished, context: inout HandlerContext) throws -> HandlerOutcome
    {
        let body = message.data
        let updated = try context.connection.execute(
            """
            UPDATE order_actions SET status = $2, completed_at = $3, error = $4
            WHERE id = $1 AND status = 'in-progress'
            """, body.actionId, prepared.status.rawValue, context.time.runAt,
            prepared.status == .errored ? "DigitalOcean's action ended errored" : nil)
        if updated > 0, let status = prepared.dropletStatus {
            try context.connection.execute(
                """
                UPDATE orders SET droplet_status = $2, updated_at = now(),
                    image = COALESCE((SELECT image FROM order_actions WHERE id = $3 AND action = 'rebuild'), image)
                WHERE id = $1 AND status IN ('ACTIVE', 'EXPIRING_SOON', 'SUSPENDED')
                """, body.orderId, status, body.actionId)
        }
        return .done
    }
}
