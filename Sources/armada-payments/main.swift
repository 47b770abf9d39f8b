import ArmadaService
import Foundation
import Logging
import Messaging
import Tripay
import Wallet

// armada-payments: consumes the payments queue (Tripay callbacks; deposits and promos to come).
do {
    let settings = try Settings(defaultMetricsPort: 9101)
    let registry = Observability.bootstrap(service: "armada-payments", settings: settings)
    let logger = Logger(label: "armada-payments")
    let topology = try Topology.bundled()
    let policy = try topology.policy(for: "armada.payments")
    let consumerConnection = try WorkerRuntime.brokerClient(
        settings: settings, name: "armada-payments-consumer", topology: topology, logger: logger)
    let publisher = try WorkerRuntime.brokerClient(
        settings: settings, name: "armada-payments-publisher", topology: topology, logger: logger)
    let pool = WorkerRuntime.pool(settings: settings, name: "armada-payments", size: settings.concurrency + 2, logger: logger)
    let relay = OutboxRelay(pool: pool, broker: publisher, logger: logger)
    let tripay = TripayClient(configuration: try settings.tripayConfiguration())
    let refreshSeconds = Double(settings.environment["TRIPAY_CHANNELS_REFRESH_SECONDS"] ?? "") ?? 600
    let reconcileEvery = Duration.seconds(Int(settings.environment["ARMADA_RECONCILE_INTERVAL_SECONDS"] ?? "") ?? 60)
    let reconciler = DepositReconciler(
        pool: pool, tripay: tripay, broker: publisher,
        after: .seconds(Int(settings.environment["ARMADA_RECONCILE_AFTER_SECONDS"] ?? "") ?? 300), interval: reconcileEvery, logger: logger)
    let consumer = QueueConsumer(
        configuration: ConsumerConfiguration(
            policy: policy, consumerName: "armada-payments", concurrency: settings.concurrency,
            crashAfterCommitOfType: settings.environment["ARMADA_FAULT_CRASH_AFTER_COMMIT"]),
        consumerConnection: consumerConnection, publisher: publisher, pool: pool,
        handlers: [
            AnyMessageHandler(TripayCallbackHandler()),
            AnyMessageHandler(CreateDepositHandler(tripay: tripay, policy: try settings.depositPolicy())),
            AnyMessageHandler(UpdateContactHandler()),
            AnyMessageHandler(CancelDepositHandler()),
            AnyMessageHandler(ClaimWelcomeBonusHandler()),
            AnyMessageHandler(ManagePromoHandler()),
            AnyMessageHandler(AdjustWalletHandler()),
        ], relay: relay, logger: logger)
    logger.info("armada-payments starting", metadata: ["metrics_port": "\(settings.metricsPort)"])
    // Order matters: the group stops services in reverse, so the consumer stops first and the
    // connections close last.
    try await WorkerRuntime.run(
        [
            BrokerService(client: publisher), BrokerService(client: consumerConnection), relay,
            PaymentChannelRefresher(pool: pool, tripay: tripay, interval: .milliseconds(Int(refreshSeconds * 1000)), logger: logger),
            DepositReconcilerService(reconciler: reconciler, interval: reconcileEvery, logger: logger), consumer,
            Observability.metricsServer(port: settings.metricsPort, registry: registry, logger: logger),
        ], logger: logger)
} catch {
    FileHandle.standardError.write(Data("armada-payments: \(error)\n".utf8))
    exit(1)
}
