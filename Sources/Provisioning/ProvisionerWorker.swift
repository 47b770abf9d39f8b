import DigitalOcean
import Foundation
import Messaging
import OrdersContracts
import Postgres

/// The provisioner (`armada-provisioner`): orders (debit, provision, refund), droplet actions
/// and deletes against DigitalOcean, account health. Adding a message type here is one line.
public enum ProvisionerWorker {
    public static let name = "armada-provisioner"
    public static let queue = "armada.provisioning"

    public static func definition(_ settings: ProvisionerSettings, _ resources: WorkerResources) -> WorkerDefinition {
        let gateway = DigitalOceanGateway(
            client: DigitalOceanClient(baseURL: settings.apiURL), pool: resources.pool, sealer: settings.sealer,
            perMinute: settings.requestsPerMinute, window: settings.rateWindowSeconds, logger: resources.logger)
        return WorkerDefinition(
            name: name, queue: queue,
            handlers: [
                AnyMessageHandler(PlaceOrderHandler(provisioningDeadline: settings.provisioningDeadline)),
                AnyMessageHandler(ProvisionOrderHandler(gateway: gateway, settings: settings)),
                AnyMessageHandler(FollowProvisioningHandler(gateway: gateway, settings: settings)),
                AnyMessageHandler(RequestDropletActionHandler(gateway: gateway)),
                AnyMessageHandler(FollowDropletActionHandler(gateway: gateway, settings: settings)),
                AnyMessageHandler(DeleteOrderHandler(gateway: gateway)),
                AnyMessageHandler(SetAutoRenewHandler()),
                AnyMessageHandler(RenewOrderHandler()),
                AnyMessageHandler(RetryProvisioningHandler(provisioningDeadline: settings.provisioningDeadline)),
                AnyMessageHandler(ManagePlanHandler()),
                AnyMessageHandler(ManageCatalogEntryHandler()),
                AnyMessageHandler(AddDOAccountHandler(client: gateway.client, sealer: settings.sealer)),
                AnyMessageHandler(UpdateDOAccountHandler()),
                AnyMessageHandler(DestroyDropletHandler(gateway: gateway)),
            ],
            publishes: [OrderCreated.self, VPSActive.self, ProvisioningFailed.self, VPSTerminated.self, VPSRenewed.self],
            periodic: [
                AccountHealthCheck.job(pool: resources.pool, gateway: gateway, every: settings.healthCheckInterval),
                OrphanSweep.job(
                    pool: resources.pool, gateway: gateway, productTag: settings.productTag, every: settings.orphanSweepInterval,
                    minimumAge: 900),
            ],
            // Most of its messages call DigitalOcean or wait for it: no group commit, no deep prefetch.
            batchSize: 1)
    }
}

/// The provisioner's settings (README, Configuration), parsed once at start.
public struct ProvisionerSettings: Sendable {
    /// DIGITALOCEAN_API_URL: the base without `/v2`.
    public var apiURL: String
    public var sealer: TokenSealer
    /// DIGITALOCEAN_REQUESTS_PER_MINUTE: the per-token pace every provisioner process shares.
    public var requestsPerMinute: Int
    /// DIGITALOCEAN_RATE_WINDOW_SECONDS: the window of that pace, 60 (a test compresses time with less).
    public var rateWindowSeconds: Int
    /// ARMADA_PROVISIONING_DEADLINE_SECONDS: from payment until a droplet must have been created.
    public var provisioningDeadline: Duration
    /// ARMADA_DROPLET_POLL_SECONDS: between looks at a booting droplet or a running action.
    public var pollInterval: Duration
    /// ARMADA_DROPLET_ACTIVE_TIMEOUT_SECONDS: from create until the droplet must be up.
    public var activeTimeout: Duration
    /// ARMADA_DO_HEALTH_CHECK_SECONDS: how often every account's token is checked.
    public var healthCheckInterval: Duration
    /// ARMADA_AMBIGUOUS_CREATE_QUIET_SECONDS: after a create got no answer, how long before
    /// another may go (the first may still appear at DigitalOcean and be adopted by its tag).
    public var ambiguousCreateQuiet: TimeInterval
    /// ARMADA_CREATE_LEASE_SECONDS: how long one delivery holds an order's create. A crashed
    /// provisioner's order waits this long; a run slower than it is caught by the fence.
    public var createLeaseSeconds: Int
    /// ARMADA_ORPHAN_SWEEP_SECONDS: how often droplets no live order owns are looked for.
    public var orphanSweepInterval: Duration
    /// ARMADA_DROPLET_TAG: the product tag every droplet carries besides `order-<id>`.
    public var productTag: String

    public init(_ environment: EnvironmentReader) throws {
        apiURL = environment.string("DIGITALOCEAN_API_URL", default: "https://api.digitalocean.com")
        sealer = try TokenSealer(environment)
        requestsPerMinute = try environment.int("DIGITALOCEAN_REQUESTS_PER_MINUTE", default: 250, in: 1...250)
        rateWindowSeconds = try environment.int("DIGITALOCEAN_RATE_WINDOW_SECONDS", default: 60, in: 1...60)
        provisioningDeadline = try environment.seconds("ARMADA_PROVISIONING_DEADLINE_SECONDS", default: 600, in: 10...86_400)
        pollInterval = try environment.seconds("ARMADA_DROPLET_POLL_SECONDS", default: 5, in: 1...300)
        activeTimeout = try environment.seconds("ARMADA_DROPLET_ACTIVE_TIMEOUT_SECONDS", default: 300, in: 5...3600)
        healthCheckInterval = try environment.seconds("ARMADA_DO_HEALTH_CHECK_SECONDS", default: 60, in: 5...3600)
        ambiguousCreateQuiet = Double(try environment.int("ARMADA_AMBIGUOUS_CREATE_QUIET_SECONDS", default: 90, in: 0...3600))
        createLeaseSeconds = try environment.int("ARMADA_CREATE_LEASE_SECONDS", default: 180, in: 5...3600)
        orphanSweepInterval = try environment.seconds("ARMADA_ORPHAN_SWEEP_SECONDS", default: 600, in: 30...86_400)
        productTag = environment.string("ARMADA_DROPLET_TAG", default: "armada")
        guard productTag.range(of: "^[a-z0-9:_-]{1,64}$", options: .regularExpression) != nil else {
            throw SettingsError("ARMADA_DROPLET_TAG must be 1 to 64 of a-z, 0-9, ':', '_', '-', got '\(productTag)'")
        }
    }
}

/// Every minute, `GET /v2/account` for each active account: an UNHEALTHY one comes back to
/// HEALTHY when its token works again; a failing one is marked (three failures: UNHEALTHY).
enum AccountHealthCheck {
    static func job(pool: PostgresPool, gateway: DigitalOceanGateway, every interval: Duration) -> PeriodicJob {
        PeriodicJob(name: "provisioning.account-health", every: interval, exclusive: true) { context in
            let accounts = try await pool.withConnection { connection in
                try connection.query("SELECT id FROM do_accounts WHERE active ORDER BY id").map { try $0.decode("id", as: UUID.self) }
                    .compactMap { try DOAccounts.account($0, on: connection) }
            }
            for account in accounts {
                do {
                    let found = try await gateway.call(account, { try await $0.account(token: $1) })
                    try await pool.withConnection { try DOAccounts.recordProviderLimit(account.id, limit: found.dropletLimit, on: $0) }
                } catch {
                    context.logger.warning(
                        "DigitalOcean account check failed", metadata: ["account": "\(account.name)", "error": "\(error)"])
                }
            }
        }
    }
}
