import DigitalOcean
import Foundation
import Messaging
import OrdersContracts
import Postgres

/// Makes the order's droplet (`provisioning.provision-order`).
///
/// DigitalOcean does not deduplicate creates, so: one delivery at a time holds the create (a
/// lease on the order); every account a create is about to go to is noted first; and a delivery
/// that is not the first looks the order's tag up on those accounts and adopts what it finds
/// before creating anything. A create that fails ambiguously (5xx, timeout, a lost response) is
/// never retried on another account at once: the next attempt looks first.
public struct ProvisionOrderHandler: PreparingMessageHandler {
    let gateway: DigitalOceanGateway
    let settings: ProvisionerSettings
    let leaseSeconds = 120

    public init(gateway: DigitalOceanGateway, settings: ProvisionerSettings) {
        self.gateway = gateway
        self.settings = settings
    }

    public enum Prepared: Sendable {
        case created(account: UUID, droplet: Droplet, createActionId: Int64?, adopted: Bool)
        case failed(ErrorCode, String)
    }

    public func prepare(_ message: Envelope<ProvisionOrder>, context: PrepareContext) async throws -> Preparation<Prepared> {
        let (id, round) = (message.data.orderId, message.data.round)
        guard let order = try await context.pool.withConnection({ try Orders.record(id, on: $0) }),
            order.status == .processing, order.provisioningRound == round
        else { return .finished(.done) }
        let runAt = context.time.runAt
        let deadline = order.provisioningDeadline ?? runAt
        // Past the deadline, the order fails; whatever an earlier attempt made goes first.
        let giveUpAt = deadline.addingTimeInterval(3600)
        let tag = Self.tag(id)
        if runAt > deadline {
            return try await waitOnTransient(until: giveUpAt) {
                for account in try await accounts(order.triedAccounts, context) {
                    for droplet in try await gateway.call(account, { try await $0.droplets(tag: tag, token: $1) }) {
                        try await gateway.call(account, { try await $0.deleteDroplet(id: droplet.id, token: $1) })
                    }
                }
                return .ready(.failed(.provisioningFailed, "DigitalOcean did not create the droplet before the provisioning deadline"))
            }
        }
        let holder = UUID()
        let seconds = leaseSeconds
        guard
            let attempt = try await context.pool.withConnection({
                try Orders.leaseCreate(id, round: round, holder: holder, forSeconds: seconds, on: $0)
            })
        else {
            return .finished(
                .again(after: .seconds(5), until: giveUpAt, because: "another delivery of this order is creating its droplet"))
        }
        // Ambiguous failures come back soon: the next attempt looks the tag up first, which is cheap.
        let outcome = try await waitOnTransient(until: giveUpAt, transientDelay: .seconds(5)) { () -> Preparation<Prepared> in
            // What an earlier attempt may have made: adopted, never duplicated.
            if attempt > 1 || !order.triedAccounts.isEmpty {
                for account in try await accounts(order.triedAccounts, context) {
                    let found = try await gateway.call(account, { try await $0.droplets(tag: tag, token: $1) }).sorted { $0.id < $1.id }
                    guard let first = found.first else { continue }
                    for extra in found.dropFirst() {
                        context.logger.error("deleting a duplicate droplet of the order", metadata: ["droplet": "\(extra.id)"])
                        try await gateway.call(account, { try await $0.deleteDroplet(id: extra.id, token: $1) })
                    }
                    context.logger.notice("adopting the droplet an earlier attempt made", metadata: ["droplet": "\(first.id)"])
                    return .ready(.created(account: account.id, droplet: first, createActionId: nil, adopted: true))
                }
            }
            let candidates = try await context.pool.withConnection { try DOAccounts.candidates(on: $0) }
            let request = DropletCreateRequest(
                name: order.hostname, region: order.region, size: order.sizeSlug, image: order.image, sshKeys: order.sshKeys,
                tags: [settings.productTag, tag])
            var refusals: [String] = []
            for account in candidates {
                try await context.pool.withConnection { try Orders.noteTried(id, account: account.id, on: $0) }
                do {
                    let created = try await gateway.call(account, { try await $0.createDroplet(request, token: $1) })
                    context.logger.info(
                        "droplet created",
                        metadata: ["order_id": "\(id)", "droplet": "\(created.droplet.id)", "account": "\(account.name)"])
                    return .ready(
                        .created(account: account.id, droplet: created.droplet, createActionId: created.createActionId, adopted: false))
                } catch DigitalOceanError.rejected(_, _, let text) where text.lowercased().contains("droplet limit") {
                    // Full at DigitalOcean, whatever our count said: the next account may have room.
                    refusals.append("\(account.name): \(text)")
                    let accountId = account.id
                    try await context.pool.withConnection {
                        try $0.execute(
                            "UPDATE do_accounts SET droplet_limit = LEAST(droplet_limit, active_droplets) WHERE id = $1", accountId)
                    }
                } catch DigitalOceanError.rejected(let status, _, let text) {
                    // An invalid size, image or region: no account can fix it.
                    return .ready(.failed(.provisioningFailed, "DigitalOcean refused the droplet (\(status)): \(text)"))
                } catch let error as DigitalOceanError where !error.isRetriable {
                    // The token was refused (recorded against the account): no droplet was made; try the next.
                    refusals.append("\(account.name): \(error)")
                }
            }
            return .ready(
                .failed(
                    .noAvailableAccount,
                    candidates.isEmpty
                        ? "no active DigitalOcean account has room" : "every account refused: " + refusals.joined(separator: "; ")))
        }
        if case .finished = outcome {
            // Waiting (a rate limit, DigitalOcean unavailable): the next attempt looks before it creates.
            try? await context.pool.withConnection { try Orders.releaseCreate(id, holder: holder, on: $0) }
        }
        return outcome
    }

    public func handle(_ message: Envelope<ProvisionOrder>, prepared: Prepared, context: inout HandlerContext) throws -> HandlerOutcome {
        let (id, round) = (message.data.orderId, message.data.round)
        guard let order = try Orders.record(id, lock: true, on: context.connection), order.provisioningRound == round else { return .done }
        switch prepared {
        case .failed(let code, let reason):
            try OrderFailure.fail(order, code: code, reason: reason, context: &context)
            return .done
        case .created(let account, let droplet, let createActionId, let adopted):
            guard
                try Orders.transition(
                    id, from: [.processing], to: .provisioning, actor: OrderFailure.actor,
                    reason: adopted ? "droplet \(droplet.id) adopted" : "droplet \(droplet.id) created", at: context.time.runAt,
                    set:
                        "do_account_id = $3, droplet_id = $4, create_action_id = $5, droplet_status = $6, counted = true, create_holder = NULL, create_lease_until = NULL",
                    [account, droplet.id, createActionId, droplet.status], on: context.connection)
            else {
                context.logger.error(
                    "order left PROCESSING while its droplet was created", metadata: ["order_id": "\(id)", "droplet": "\(droplet.id)"])
                return .done
            }
            try DOAccounts.count(account, by: 1, on: context.connection)
            try context.send(
                FollowProvisioning(orderId: id, round: round, dropletId: droplet.id), id: FollowProvisioning.id(orderId: id, round: round))
            return .done
        }
    }

    /// The tag that names the order's droplet: the idempotency key of its create.
    public static func tag(_ orderId: UUID) -> String { "order-\(orderId.uuidString.lowercased())" }

    func accounts(_ ids: [UUID], _ context: PrepareContext) async throws -> [DOAccount] {
        try await context.pool.withConnection { connection in try ids.compactMap { try DOAccounts.account($0, on: connection) } }
    }
}

/// Runs `body`; a pacing wait or a transient DigitalOcean failure becomes "again later" (not a
/// spent retry) until `until`, after which the kit dead-letters it for an operator.
func waitOnTransient<Value: Sendable>(
    until: Date, transientDelay: Duration = .seconds(30), _ body: () async throws -> Preparation<Value>
) async throws -> Preparation<Value> {
    do {
        return try await body()
    } catch let wait as CallWait {
        let seconds = max(5, Int(wait.until.timeIntervalSinceNow.rounded(.up)))
        return .finished(.again(after: .seconds(seconds), until: until, because: wait.description))
    } catch let error as DigitalOceanError where error.isRetriable {
        return .finished(.again(after: transientDelay, until: until, because: error.description))
    }
}
