import AMQP
import ArgumentParser
import ArmadaService
import Foundation
import Logging
import Messaging
import Migrations
import Postgres
import Wallet
import WalletContracts

/// Shared set-up for the subcommands: settings, a quiet logger, connections on demand.
struct Tooling {
    let settings: ProcessSettings
    let logger: Logger

    init() throws {
        settings = try ProcessSettings(defaultMetricsPort: 9100)
        var logger = Logger(label: "armadactl") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = settings.environment.string("ARMADA_LOG_LEVEL").flatMap(Logger.Level.init(rawValue:)) ?? .warning
        self.logger = logger
    }

    func pool() -> PostgresPool {
        Connections.pool(settings, name: "armadactl", size: 1, logger: logger)
    }

    /// A broker connection; `declaring` the bundled topology first (every command but the one
    /// that migrates it).
    func broker(declaring: Bool = true) async throws -> BrokerClient {
        let client = try Connections.broker(
            settings, name: "armadactl", topology: declaring ? try Topology.bundled() : nil, logger: logger)
        client.start()
        try await client.waitUntilConnected(timeout: .seconds(15))
        return client
    }
}
