import DigitalOcean
import Foundation
import Messaging
import OrdersContracts
import Postgres

/// Deletes a droplet no order owns (`provisioning.destroy-droplet`), unless an order has
/// recorded it meanwhile. Gone already counts as deleted.
public struct DestroyDropletHandler: PreparingMessageHandler {
    let gateway: DigitalOceanGateway

    public init(gateway: DigitalOceanGateway) {
        self.gateway = gateway
    }

    public func prepare(_ message: Envelope<DestroyDroplet>, context: PrepareContext) async throws -> Preparation<Bool> {
        let body = message.data
        let (owned, account, creating) = try await context.pool.withConnection { connection in
            (
                try !connection.query(
                    """
                    SELECT 1 FROM orders WHERE do_account_id = $1 AND droplet_id = $2
                      AND status IN ('PROVISIONING', 'ACTIVE', 'EXPIRING_SOON', 'SUSPENDED')
                    """, body.accountId, body.dropletId
                ).isEmpty,
                try DOAccounts.account(body.accountId, on: connection),
                try Orders.record(body.orderId, on: connection)?.status == .processing
            )
        }
        guard !owned, let account else { return .finished(.done) }
        let giveUpAt = message.occurredAt.addingTimeInterval(86_400)
        if creating {
            // A new round may be adopting this very droplet: wait until the order is past creating.
            return .finished(.again(after: .seconds(30), until: giveUpAt, because: "the order is creating its droplet"))
        }
        return try await waitOnTransient(until: giveUpAt) {
            let existed = try await gateway.call(account, { try await $0.deleteDroplet(id: body.dropletId, token: $1) })
            context.logger.warning(
                "deleted a droplet no order owns",
                metadata: [
                    "droplet": "\(body.dropletId)", "order_id": "\(body.orderId)", "reason": "\(body.reason)", "existed": "\(existed)",
                ])
            return .ready(existed)
        }
    }

    public func handle(_ message: Envelope<DestroyDroplet>, prepared: Bool, context: inout HandlerContext) throws -> HandlerOutcome {
        .done
    }
}
