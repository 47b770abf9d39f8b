import DigitalOcean
import Foundation
import Messaging
import OrdersContracts
import Postgres

/// Makes the order's droplet (`provisioning.provision-order`).
///
/// DigitalOcean does not deduplicate creates, so:
/// - one delivery at a time holds the create (a lease on the order), and its atomic phase takes
///   effect only while it still holds it (the fence): a run that lost its lease while DigitalOcean
///   was slow looks again, or has its droplet destroyed when the order went on without it;
/// - every account a create is about to go to is noted first, and a run looks the order's tag up
///   on those accounts and adopts what it finds (deleting extras) before creating anything;
/// - a create that failed without an answer (5xx, timeout, a lost response) may still appear, so
///   no create follows it until a quiet period has passed with the tag still not found.
public struct ProvisionOrderHandler: PreparingMessageHandler {
    let gateway: DigitalOceanGateway
    let settings: ProvisionerSettings

    public init(gateway: DigitalOceanGateway, settings: ProvisionerSettings) {
        self.gateway = gateway
        self.settings = settings
    }

    public enum Outcome: Sendable {
        case created(account: UUID, droplet: Droplet, createActionId: Int64?, adopted: Bool)
        case failed(ErrorCode, String)
    }

    public struct Prepared: Sendable {
        var outcome: Outcome
        /// The lease this run held: its atomic phase takes effect only if it still does.
        var holder: UUID
    }

    public func prepare(_ message: Envelope<ProvisionOrder>, context: PrepareContext) async throws -> Preparation<Prepared> {
        let (id, round) = (message.data.orderId, message.data.round)
        guard let before = try await context.pool.withConnection({ try Orders.record(id, on: $0) }),
            before.status == .processing, before.provisioningRound == round
        else { return .finished(.done) }
        let runAt = context.time.runAt
        let deadline = before.provisioningDeadline ?? runAt
        let giveUpAt = deadline.addingTimeInterval(3600)
        let tag = Self.tag(id)
        let holder = UUID()
        let seconds = settings.createLeaseSeconds
        guard
            let lease = try await context.pool.withConnection({
                try Orders.leaseCreate(id, round: round, holder: holder, forSeconds: seconds, quiet: settings.ambiguousCreateQuiet, on: $0)
            })
        else {
            return .finished(
                .again(after: .seconds(5), until: giveUpAt, because: "another delivery of this order is creating its droplet"))
        }
        // Read again under the lease: the accounts an earlier holder tried are all noted by now.
        guard let order = try await context.pool.withConnection({ try Orders.record(id, on: $0) }) else { return .finished(.done) }
        func attempt() async throws -> Preparation<Prepared> {
            // What an earlier attempt made is adopted, never duplicated.
            if let found = try await adopt(order, tag: tag, holder: holder, context) {
                return .ready(Prepared(outcome: found, holder: holder))
            }
            if runAt > deadline {
                return .ready(
                    Prepared(
                        outcome: .failed(.provisioningFailed, "DigitalOcean did not create the droplet before the provisioning deadline"),
                        holder: holder))
            }
            if lease.quietLeft > 0 {
                let wait = Int(lease.quietLeft.rounded(.up))
                return .finished(
                    .again(
                        after: .seconds(max(5, wait)), until: giveUpAt,
                        because: "the last create got no answer; waiting to see whether it appears"))
            }
            return try await create(order, tag: tag, holder: holder, context)
        }
        // A transient failure comes back after the 30 s tier, not the 5 s one: each next attempt
        // looks the tag up on every account it tried, and during an outage at DigitalOcean those
        // looks from every waiting order would spend the token's hourly budget (5,000) in minutes.
        let outcome = try await waitOnTransient(until: giveUpAt) { () -> Preparation<Prepared> in
            do {
                return try await attempt()
            } catch is LeaseLost {
                return .finished(.again(after: .seconds(5), until: giveUpAt, because: "this run's create lease ran out"))
            }
        }
        if case .finished = outcome {
            try? await context.pool.withConnection { try Orders.releaseCreate(id, holder: holder, on: $0) }
        }
        return outcome
    }

    /// The droplet tagged for the order on an account it was tried on; the oldest is kept, any
    /// other deleted (while this run still holds the create). An account that refuses its token
    /// is skipped (logged; the orphan sweep looks there once it works again).
    func adopt(_ order: OrderRecord, tag: String, holder: UUID, _ context: PrepareContext) async throws -> Outcome? {
        for account in try await accounts(order.triedAccounts, context) {
            let found: [Droplet]
            do {
                found = try await gateway.call(account, { try await $0.droplets(tag: tag, token: $1) }).sorted { $0.id < $1.id }
            } catch DigitalOceanError.unauthorized(let status, _) {
                context.logger.error(
                    "cannot look for the order's droplet: the account refuses its token",
                    metadata: ["order_id": "\(order.id)", "account": "\(account.name)", "status": "\(status)"])
                continue
            }
            guard let first = found.first else { continue }
            if found.count > 1 { try await renewLease(order.id, holder: holder, context) }
            for extra in found.dropFirst() {
                context.logger.error(
                    "deleting a duplicate droplet of the order", metadata: ["order_id": "\(order.id)", "droplet": "\(extra.id)"])
                try await gateway.call(account, { try await $0.deleteDroplet(id: extra.id, token: $1) })
            }
            context.logger.notice(
                "adopting the droplet an earlier attempt made", metadata: ["order_id": "\(order.id)", "droplet": "\(first.id)"])
            return .created(account: account.id, droplet: first, createActionId: nil, adopted: true)
        }
        return nil
    }

    func create(_ order: OrderRecord, tag: String, holder: UUID, _ context: PrepareContext) async throws -> Preparation<Prepared> {
        let id = order.id
        let candidates = try await context.pool.withConnection { try DOAccounts.candidates(on: $0) }
        let request = DropletCreateRequest(
            name: order.hostname, region: order.region, size: order.sizeSlug, image: order.image, sshKeys: order.sshKeys,
            tags: [settings.productTag, tag])
        var refusals: [String] = []
        for account in candidates {
            try await renewLease(id, holder: holder, context)
            try await context.pool.withConnection { try Orders.noteTried(id, account: account.id, on: $0) }
            do {
                let created = try await gateway.call(account, { try await $0.createDroplet(request, token: $1) })
                context.logger.info(
                    "droplet created", metadata: ["order_id": "\(id)", "droplet": "\(created.droplet.id)", "account": "\(account.name)"])
                return .ready(
                    Prepared(
                        outcome: .created(
                            account: account.id, droplet: created.droplet, createActionId: created.createActionId, adopted: false),
                        holder: holder))
            } catch DigitalOceanError.rejected(_, _, let text) where text.lowercased().contains("droplet limit") {
                // Full at DigitalOcean, whatever our count said: the next account may have room. The
                // health check reads the account's real limit again.
                refusals.append("\(account.name): \(text)")
                let accountId = account.id
                try await context.pool.withConnection { try DOAccounts.markFull(accountId, on: $0) }
            } catch DigitalOceanError.rejected(let status, _, let text) {
                // An invalid size, image or region: no account can fix it.
                return .ready(
                    Prepared(outcome: .failed(.provisioningFailed, "DigitalOcean refused the droplet (\(status)): \(text)"), holder: holder)
                )
            } catch DigitalOceanError.unauthorized(let status, let text) {
                // The token was refused (recorded against the account): no droplet was made there, so
                // it is no place to look for one either; try the next.
                refusals.append("\(account.name): token refused (\(status)) \(text)")
                let accountId = account.id
                try await context.pool.withConnection { try Orders.unnoteTried(id, account: accountId, on: $0) }
            } catch let error as DigitalOceanError where error.isRetriable {
                // No answer: the create may still appear. The next run looks before it creates again.
                try await context.pool.withConnection { try Orders.noteAmbiguousCreate(id, on: $0) }
                throw error
            }
        }
        return .ready(
            Prepared(
                outcome: .failed(
                    .noAvailableAccount,
                    candidates.isEmpty
                        ? "no active DigitalOcean account has room" : "every account refused: " + refusals.joined(separator: "; ")),
                holder: holder))
    }

    public func handle(_ message: Envelope<ProvisionOrder>, prepared: Prepared, context: inout HandlerContext) throws -> HandlerOutcome {
        let (id, round) = (message.data.orderId, message.data.round)
        guard let order = try Orders.record(id, lock: true, on: context.connection) else { return .done }
        let holds = try Orders.holdsCreate(id, holder: prepared.holder, on: context.connection)
        guard holds, order.status == .processing, order.provisioningRound == round else {
            // The fence: this run lost its lease or the order went on without it.
            if order.status == .processing && order.provisioningRound == round {
                // Still this round's to make: run again (another delivery, if any, finds a droplet
                // this run made by its tag). Whatever the outcome, never consume the message here.
                let deadline = (order.provisioningDeadline ?? context.time.runAt).addingTimeInterval(3600)
                return .again(after: .seconds(5), until: deadline, because: "lost the create lease")
            }
            if case .created(let account, let droplet, _, _) = prepared.outcome, order.dropletId != droplet.id {
                try context.send(
                    DestroyDroplet(accountId: account, dropletId: droplet.id, orderId: id, reason: "the order is \(order.status.rawValue)"),
                    id: DestroyDroplet.id(accountId: account, dropletId: droplet.id, at: context.now))
            }
            return .done
        }
        switch prepared.outcome {
        case .failed(let code, let reason):
            try OrderFailure.fail(order, code: code, reason: reason, context: &context)
            return .done
        case .created(let account, let droplet, let createActionId, let adopted):
            let recordedAt = context.time.runAt
            try Orders.transition(
                id, from: [.processing], to: .provisioning, actor: OrderFailure.actor,
                reason: adopted ? "droplet \(droplet.id) adopted" : "droplet \(droplet.id) created", at: recordedAt,
                set:
                    "do_account_id = $3, droplet_id = $4, create_action_id = $5, droplet_status = $6, droplet_recorded_at = $7, counted = true, create_holder = NULL, create_lease_until = NULL",
                [account, droplet.id, createActionId, droplet.status, recordedAt], on: context.connection)
            try DOAccounts.count(account, by: 1, on: context.connection)
            try context.send(
                FollowProvisioning(orderId: id, round: round, dropletId: droplet.id), id: FollowProvisioning.id(orderId: id, round: round))
            return .done
        }
    }

    /// The tag that names the order's droplet: the idempotency key of its create.
    public static func tag(_ orderId: UUID) -> String { "order-\(orderId.uuidString.lowercased())" }

    struct LeaseLost: Error {}

    /// Extends this run's create lease before a create or a delete; throws `LeaseLost` when
    /// another delivery took it meanwhile.
    func renewLease(_ id: UUID, holder: UUID, _ context: PrepareContext) async throws {
        let seconds = settings.createLeaseSeconds
        guard try await context.pool.withConnection({ try Orders.renewCreate(id, holder: holder, forSeconds: seconds, on: $0) }) else {
            throw LeaseLost()
        }
    }

    func accounts(_ ids: [UUID], _ context: PrepareContext) async throws -> [DOAccount] {
        try await context.pool.withConnection { connection in try ids.compactMap { try DOAccounts.account($0, on: connection) } }
    }
}

/// Runs `body`; a pacing wait, a transient DigitalOcean failure or a refused token (an operator
/// fixes the account) becomes "again later" (not a spent retry) until `until`, after which the
/// kit dead-letters the message for an operator.
func waitOnTransient<Value: Sendable>(
    until: Date, transientDelay: Duration = .seconds(30), _ body: () async throws -> Preparation<Value>
) async throws -> Preparation<Value> {
    do {
        return try await body()
    } catch let wait as CallWait {
        let seconds = max(5, Int(wait.until.timeIntervalSinceNow.rounded(.up)))
        return .finished(.again(after: .seconds(seconds), until: until, because: wait.description))
    } catch let error as DigitalOceanError where error.isRetriable || error.countsAgainstAccount {
        return .finished(.again(after: transientDelay, until: until, because: error.description))
    }
}
