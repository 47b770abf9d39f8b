import DigitalOcean
import Foundation
import Messaging
import OrdersContracts
import Postgres

/// Follows a new droplet until it is up (`provisioning.follow-provisioning`): each look is one
/// run; "not yet" waits in a delay tier, so a process follows hundreds of droplets at once. Up
/// (`active` with a public IPv4) → ACTIVE, `activated_at`, `expires_at` one period later,
/// VPS_ACTIVE. Its create action `errored`, no address by the timeout, or the droplet gone →
/// the droplet is deleted and the order FAILED and refunded.
public struct FollowProvisioningHandler: PreparingMessageHandler {
    let gateway: DigitalOceanGateway
    let settings: ProvisionerSettings

    public init(gateway: DigitalOceanGateway, settings: ProvisionerSettings) {
        self.gateway = gateway
        self.settings = settings
    }

    public enum Prepared: Sendable {
        case active(ipv4: String)
        case failed(String)
    }

    public func prepare(_ message: Envelope<FollowProvisioning>, context: PrepareContext) async throws -> Preparation<Prepared> {
        let body = message.data
        guard let order = try await context.pool.withConnection({ try Orders.record(body.orderId, on: $0) }),
            order.status == .provisioning, order.provisioningRound == body.round, order.dropletId == body.dropletId,
            let accountId = order.accountId,
            let account = try await context.pool.withConnection({ try DOAccounts.account(accountId, on: $0) })
        else { return .finished(.done) }
        // The timeout runs from when the droplet was recorded, however long the create took.
        let timeout = (order.dropletRecordedAt ?? message.occurredAt).addingTimeInterval(Double(settings.activeTimeout.components.seconds))
        let giveUpAt = timeout.addingTimeInterval(3600)
        return try await waitOnTransient(until: giveUpAt) {
            guard let droplet = try await gateway.call(account, { try await $0.droplet(id: body.dropletId, token: $1) }) else {
                return .ready(.failed("droplet \(body.dropletId) is gone at DigitalOcean"))
            }
            if droplet.status == "active", let address = droplet.publicIPv4 {
                // Up: any other droplet tagged for the order (a create that answered late) goes.
                try await deleteExtras(order, keeping: body.dropletId, context)
                return .ready(.active(ipv4: address))
            }
            if let actionId = order.createActionId,
                let action = try await gateway.call(account, { try await $0.action(id: actionId, token: $1) }), action.status == .errored
            {
                try await gateway.call(account, { try await $0.deleteDroplet(id: body.dropletId, token: $1) })
                return .ready(.failed("DigitalOcean's create action for droplet \(body.dropletId) ended errored"))
            }
            if context.time.runAt > timeout {
                try await gateway.call(account, { try await $0.deleteDroplet(id: body.dropletId, token: $1) })
                return .ready(.failed("droplet \(body.dropletId) had no public IPv4 after \(settings.activeTimeout.components.seconds) s"))
            }
            return .finished(
                .again(after: settings.pollInterval, until: giveUpAt, because: "droplet \(body.dropletId) is \(droplet.status), not up yet")
            )
        }
    }

    func deleteExtras(_ order: OrderRecord, keeping dropletId: Int64, _ context: PrepareContext) async throws {
        let tag = ProvisionOrderHandler.tag(order.id)
        let accounts = try await context.pool.withConnection { connection in
            try order.triedAccounts.compactMap { try DOAccounts.account($0, on: connection) }
        }
        for account in accounts {
            let tagged: [Droplet]
            do {
                tagged = try await gateway.call(account, { try await $0.droplets(tag: tag, token: $1) })
            } catch DigitalOceanError.unauthorized {
                // Not reachable now; the orphan sweep looks there once the account works again.
                continue
            }
            for extra in tagged where extra.id != dropletId {
                context.logger.error(
                    "deleting a duplicate droplet of the order", metadata: ["order_id": "\(order.id)", "droplet": "\(extra.id)"])
                try await gateway.call(account, { try await $0.deleteDroplet(id: extra.id, token: $1) })
            }
        }
    }

    public func handle(_ message: Envelope<FollowProvisioning>, prepared: Prepared, context: inout HandlerContext) throws -> HandlerOutcome
    {
        let body = message.data
        guard let order = try Orders.record(body.orderId, lock: true, on: context.connection), order.status == .provisioning,
            order.provisioningRound == body.round, order.dropletId == body.dropletId
        else { return .done }
        switch prepared {
        case .failed(let reason):
            try OrderFailure.fail(order, code: .provisioningFailed, reason: reason, context: &context)
        case .active(let address):
            let activatedAt = context.time.runAt.wholeSeconds
            let expiresAt = order.billingPeriod.end(from: activatedAt)
            try Orders.transition(
                order.id, from: [.provisioning], to: .active, actor: OrderFailure.actor, reason: "droplet up at \(address)",
                at: activatedAt,
                set: "activated_at = $3, expires_at = $4, public_ipv4 = $5, droplet_status = 'active'", [activatedAt, expiresAt, address],
                on: context.connection)
            try context.send(
                VPSActive(
                    customerId: order.customerId, orderId: order.id, hostname: order.hostname, publicIpv4: address, expiresAt: expiresAt),
                id: MessageID.derive("vps-active", "\(order.id.uuidString):\(order.provisioningRound)"))
            context.logger.info("VPS active", metadata: ["order_id": "\(order.id)", "ipv4": "\(address)"])
        }
        return .done
    }
}
