import DigitalOcean
import Foundation
import Messaging
import OrdersContracts
import Postgres

/// The safety net behind the create rules: now and then, every account's droplets carrying the
/// product tag are held against the orders. A droplet whose order failed or was terminated, or
/// whose order runs another droplet, is destroyed; one that names no order we know is only
/// logged for an operator. Destroyed
/// (`provisioning.destroy-droplet`, which checks ownership again) — once it is older than
/// `minimumAge`, so a create still in flight is never taken for an orphan. Orders still being
/// created (PROCESSING) are left to their own tag lookups.
enum OrphanSweep {
    static func job(
        pool: PostgresPool, gateway: DigitalOceanGateway, productTag: String, every interval: Duration, minimumAge: TimeInterval
    )
        -> PeriodicJob
    {
        PeriodicJob(name: "provisioning.orphan-sweep", every: interval, exclusive: true) { context in
            let accounts = try await pool.withConnection { connection in
                try connection.query("SELECT id FROM do_accounts ORDER BY id").map { try $0.decode("id", as: UUID.self) }
                    .compactMap { try DOAccounts.account($0, on: connection) }
            }
            for account in accounts {
                do {
                    let droplets = try await gateway.call(account, { try await $0.droplets(tag: productTag, token: $1) })
                    let orphans = try await pool.withConnection { connection in
                        try droplets.filter { droplet in
                            try isOrphan(droplet, account: account.id, now: context.now, minimumAge: minimumAge, on: connection)
                        }
                    }
                    let strangers = try await pool.withConnection { connection in
                        try droplets.filter { droplet in try orderId(droplet).flatMap { try Orders.record($0, on: connection) } == nil }
                    }
                    if !strangers.isEmpty {
                        context.logger.warning(
                            "droplets carry our tag but name no order we know; left for an operator",
                            metadata: ["account": "\(account.name)", "droplets": "\(strangers.map(\.id))"])
                    }
                    guard !orphans.isEmpty else { continue }
                    try await pool.transaction { connection in
                        for droplet in orphans {
                            let body = DestroyDroplet(
                                accountId: account.id, dropletId: droplet.id, orderId: orderId(droplet) ?? UUID(),
                                reason: "orphan sweep: no live order owns it")
                            try Outbox.enqueue(
                                Envelope(
                                    id: DestroyDroplet.id(accountId: account.id, dropletId: droplet.id, at: context.now), data: body,
                                    occurredAt: context.now
                                ),
                                on: connection)
                        }
                    }
                    context.logger.warning("orphan droplets found", metadata: ["account": "\(account.name)", "count": "\(orphans.count)"])
                } catch {
                    context.logger.warning(
                        "orphan sweep of an account failed", metadata: ["account": "\(account.name)", "error": "\(error)"])
                }
            }
        }
    }

    static func orderId(_ droplet: Droplet) -> UUID? {
        droplet.tags.lazy.compactMap { $0.hasPrefix("order-") ? UUID(uuidString: String($0.dropFirst(6))) : nil }.first
    }

    static func isOrphan(_ droplet: Droplet, account: UUID, now: Date, minimumAge: TimeInterval, on connection: PGConnection) throws -> Bool
    {
        guard let created = ISO8601DateFormatter().date(from: droplet.createdAt), now.timeIntervalSince(created) >= minimumAge else {
            return false
        }
        guard let orderId = orderId(droplet), let order = try Orders.record(orderId, on: connection) else {
            // Our tag but no order we know (another installation on the same account, a database
            // restored from before the order): never destroyed automatically; an operator decides.
            return false
        }
        switch order.status {
        case .pending, .processing: return false
        case .failed, .terminated: return true
        case .provisioning, .active, .expiringSoon, .suspended: return order.dropletId != droplet.id || order.accountId != account
        }
    }
}
