import Foundation
import Messaging
import Tripay
import WalletContracts

/// The payments worker (`armada-payments`): what it consumes, publishes and runs on a timer.
/// Adding a message type here is one line in `handlers` or `publishes`.
public enum PaymentsWorker {
    public static let name = "armada-payments"
    public static let queue = "armada.payments"

    public static func definition(_ settings: PaymentsSettings, _ resources: WorkerResources) -> WorkerDefinition {
        let tripay = TripayClient(configuration: settings.tripay)
        let reconciler = DepositReconciler(
            pool: resources.pool, tripay: tripay, broker: resources.publisher, settings: settings.reconciliation, logger: resources.logger)
        return WorkerDefinition(
            name: name, queue: queue,
            handlers: [
                AnyMessageHandler(TripayCallbackHandler(unknownReferenceWindow: settings.unknownReferenceWindow)),
                AnyMessageHandler(
                    CreateDepositHandler(tripay: tripay, policy: settings.deposits, leaseSeconds: settings.createLeaseSeconds)),
                AnyMessageHandler(CancelDepositHandler()),
                AnyMessageHandler(UpdateContactHandler()),
                AnyMessageHandler(ClaimWelcomeBonusHandler()),
                AnyMessageHandler(ManagePromoHandler()),
                AnyMessageHandler(AdjustWalletHandler()),
            ],
            publishes: [DepositPaid.self, DepositExpired.self, DepositPaidLate.self, WelcomeBonusCredited.self],
            periodic: [
                reconciler.job,
                PaymentChannels.refreshJob(pool: resources.pool, tripay: tripay, every: settings.channelRefreshInterval),
                TripayCallbacks.retentionJob(pool: resources.pool, keep: settings.retention),
            ])
    }
}

/// The payments worker's settings (README, Configuration), parsed once at start.
public struct PaymentsSettings: Sendable {
    public var tripay: TripayConfiguration
    public var deposits: DepositPolicy
    public var reconciliation: DepositReconciler.Settings
    public var unknownReferenceWindow: Duration
    public var channelRefreshInterval: Duration
    /// How long the Tripay callback log, a record of money, is kept (ARMADA_CALLBACK_LOG_RETENTION_DAYS).
    public var retention: Duration
    /// How long one delivery holds a deposit's create at Tripay (ARMADA_DEPOSIT_CREATE_LEASE_SECONDS):
    /// after an ambiguous failure (a lost answer) the next attempt waits this long, then adopts
    /// what Tripay made. Longer than a Tripay call can take (its timeout is 30 s).
    public var createLeaseSeconds: Int

    public init(_ environment: EnvironmentReader) throws {
        tripay = TripayConfiguration(
            baseURL: environment.string("TRIPAY_API_URL", default: "http://127.0.0.1:8091"),
            apiKey: try environment.required("TRIPAY_API_KEY"), privateKey: try environment.required("TRIPAY_PRIVATE_KEY"),
            merchantCode: try environment.required("TRIPAY_MERCHANT_CODE"))
        deposits = try DepositPolicy(environment)
        reconciliation = DepositReconciler.Settings(
            after: try environment.seconds("ARMADA_RECONCILE_AFTER_SECONDS", default: 300, in: 0...86_400),
            interval: try environment.seconds("ARMADA_RECONCILE_INTERVAL_SECONDS", default: 60, in: 1...86_400),
            expiryGrace: try environment.seconds("ARMADA_DEPOSIT_EXPIRY_GRACE_SECONDS", default: 1800, in: 0...604_800),
            batch: try environment.int("ARMADA_RECONCILE_BATCH", default: 100, in: 1...10_000),
            maxBackoff: try environment.seconds("ARMADA_RECONCILE_MAX_BACKOFF_SECONDS", default: 3600, in: 1...604_800))
        unknownReferenceWindow = try environment.seconds("ARMADA_UNKNOWN_CALLBACK_WINDOW_SECONDS", default: 3600, in: 0...604_800)
        channelRefreshInterval = try environment.seconds("TRIPAY_CHANNELS_REFRESH_SECONDS", default: 600, in: 1...86_400)
        retention = try environment.seconds("ARMADA_CALLBACK_LOG_RETENTION_DAYS", default: 400, in: 30...3650) * 86_400
        createLeaseSeconds = try environment.int("ARMADA_DEPOSIT_CREATE_LEASE_SECONDS", default: 120, in: 5...3600)
    }
}
