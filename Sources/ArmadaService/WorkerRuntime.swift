import AMQP
import Logging
import Messaging
import Postgres
import ServiceLifecycle

/// The connections a process needs, wired the same way everywhere.
public enum WorkerRuntime {
    /// A broker client that applies the bundled topology on every (re)connect.
    public static func brokerClient(settings: Settings, name: String, topology: Topology, logger: Logger) throws -> BrokerClient {
        var configuration = try AMQPConfiguration(url: settings.amqpURL)
        configuration.connectionName = name
        return BrokerClient(configuration: configuration, logger: logger) { connection in
            try topology.apply(on: connection)
        }
    }

    public static func pool(settings: Settings, name: String, size: Int, logger: Logger) -> PostgresPool {
        PostgresPool(connectionString: settings.databaseURL, size: size, applicationName: name, logger: logger)
    }

    /// Runs `services` until SIGTERM or SIGINT, then shuts them down in reverse order within
    /// `shutdownDeadline`; anything still running then is cancelled.
    public static func run(_ services: [any Service], logger: Logger, shutdownDeadline: Duration = .seconds(25)) async throws {
        var configuration = ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = shutdownDeadline
        try await ServiceGroup(configuration: configuration).run()
    }
}
