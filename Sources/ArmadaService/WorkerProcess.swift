import AMQP
import Dispatch
import Foundation
import Logging
import Messaging
import Postgres
import ServiceLifecycle
import Synchronization

/// Makes a worker process from a business area's `WorkerDefinition`: settings, logs, metrics,
/// the pool, a consumer and a publisher connection, the consumer, the outbox relay, the periodic
/// jobs and the metrics server, run until SIGTERM.
///
/// Shutdown order, the same in every process: the consumer stops taking work and finishes or
/// requeues what is in flight; the periodic jobs finish their run; the relay flushes the outbox
/// while the broker connection is still open; the metrics server stops; the broker connections
/// close last. Past the deadline everything is cancelled, and every service ends on
/// cancellation.
public enum WorkerProcess {
    public static func main(
        name: String, defaultMetricsPort: Int, _ define: @Sendable @escaping (WorkerResources) throws -> WorkerDefinition
    ) async -> Never {
        await main(name: name, defaultMetricsPort: defaultMetricsPort, definitions: { [try define($0)] })
    }

    /// A process running several workers (the notifier's three queues): one consumer connection
    /// and consumer per definition, sharing the pool, the publisher and the outbox relay.
    public static func main(
        name: String, defaultMetricsPort: Int, definitions define: @Sendable (WorkerResources) async throws -> [WorkerDefinition]
    ) async -> Never {
        await ProcessRunner.main(name: name) {
            let settings = try ProcessSettings(defaultMetricsPort: defaultMetricsPort)
            let registry = Observability.bootstrap(settings: settings)
            let logger = Logger(label: name)
            let topology = try Topology.bundled()
            let publisher = try Connections.broker(settings, name: "\(name)-publisher", topology: topology, logger: logger)
            // Sized for the definitions this process may run (three for the notifier); a
            // connection is taken only while a run uses it.
            let pool = Connections.pool(settings, name: name, size: 3 * settings.concurrency + 2, logger: logger)
            let definitions = try await define(
                WorkerResources(pool: pool, publisher: publisher, logger: logger, environment: settings.environment))
            let relay = OutboxRelay(pool: pool, broker: publisher, logger: logger)
            // `/ready` has a connection of its own: under load the handlers' pool may have none
            // free for longer than a readiness probe waits.
            let readiness = Connections.pool(settings, name: "\(name)-ready", size: 1, logger: logger)
            var consumerConnections: [BrokerClient] = []
            var consumers: [any Service] = []
            for definition in definitions {
                let connection = try Connections.broker(
                    settings, name: definitions.count == 1 ? "\(name)-consumer" : "\(definition.name)-consumer", topology: topology,
                    logger: logger)
                consumerConnections.append(connection)
                consumers.append(
                    QueueConsumer(
                        configuration: ConsumerConfiguration(
                            policy: try topology.policy(for: definition.queue), consumerName: definition.name,
                            concurrency: settings.concurrency, crashAfterCommitOfType: settings.crashAfterCommitOfType,
                            crashAfterPrepareOfType: settings.crashAfterPrepareOfType, forwardUnhandled: definition.forwardUnhandled,
                            batchSize: definition.batchSize ?? settings.batchSize),
                        consumerConnection: connection, publisher: publisher, pool: pool, handlers: definition.handlers, relay: relay,
                        logger: logger))
            }
            let holder = "\(name)@\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
            let jobs = definitions.flatMap(\.periodic) + [Retention.job(pool: pool, keep: settings.retention)]
            let periodic: [any Service] = jobs.map { PeriodicService(job: $0, pool: pool, holder: holder, logger: logger) }
            logger.info(
                "\(name) starting",
                metadata: ["metrics_port": "\(settings.metricsPort)", "queues": "\(definitions.map(\.queue).joined(separator: ","))"])
            // Listed in start order; the group stops them in reverse.
            let services: [any Service] =
                [BrokerService(clients: [publisher] + consumerConnections)]
                + [
                    Observability.metricsServer(
                        port: settings.metricsPort, registry: registry, logger: logger,
                        ready: { [publisher, consumerConnections, readiness] in
                            let database = (try? await readiness.withConnection { try $0.query("SELECT 1 AS ok").count == 1 }) ?? false
                            let broker = publisher.isConnected && consumerConnections.allSatisfy(\.isConnected)
                            return ["postgres": database, "rabbitmq": broker]
                        }), relay,
                ]
                + periodic + consumers
            return (services, settings.shutdownDeadline, logger)
        }
    }
}

/// Runs a process's services until SIGTERM or SIGINT and exits: 0 after a clean stop, 1 when a
/// service failed or the deadline cut the stop short, 2 when it could not start (a bad setting,
/// a missing secret).
///
/// SIGTERM and SIGINT are taken over before anything else happens, so a stop that arrives while
/// the process is still starting (a scale-in right after a scale-out) is a graceful stop as soon
/// as the services run, not a kill by the signal's default action.
public enum ProcessRunner {
    public static func main(
        name: String, _ build: () async throws -> (services: [any Service], deadline: Duration, logger: Logger)
    ) async -> Never {
        let stop = StopSignals()
        let built: (services: [any Service], deadline: Duration, logger: Logger)
        do {
            built = try await build()
        } catch {
            FileHandle.standardError.write(Data("\(name): cannot start: \(error)\n".utf8))
            exit(2)
        }
        do {
            try await run(built.services, deadline: built.deadline, logger: built.logger, stop: stop)
            built.logger.info("\(name) stopped")
            exit(0)
        } catch {
            built.logger.error("\(name) stopped on an error", metadata: ["error": "\(error)"])
            exit(1)
        }
    }

    /// Runs `services` until `stop` fires (SIGTERM or SIGINT), then shuts them down in reverse
    /// order within `deadline`; anything still running then is cancelled, and a service that
    /// ignores cancellation for 5 s more ends the process (the supervisor would kill it anyway).
    static func run(_ services: [any Service], deadline: Duration, logger: Logger, stop: StopSignals) async throws {
        // The stop signal is a service that returns when the signal comes; its return shuts the
        // group down gracefully, in reverse order. It comes first, so it is stopped last.
        let signal = ServiceGroupConfiguration.ServiceConfiguration(
            service: StopSignalService(signals: stop), successTerminationBehavior: .gracefullyShutdownGroup)
        var configuration = ServiceGroupConfiguration(
            services: [signal] + services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }, logger: logger)
        configuration.maximumGracefulShutdownDuration = deadline
        configuration.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: configuration).run()
    }
}

/// Returns when SIGTERM or SIGINT came (also before it ran), or when the group stops otherwise.
struct StopSignalService: Service {
    let signals: StopSignals

    func run() async throws {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        signals.onStop { continuation.finish() }
        await withGracefulShutdownHandler {
            for await _ in stream {}
        } onGracefulShutdown: {
            continuation.finish()
        }
    }
}

/// SIGTERM and SIGINT, observed from the start of the process; a signal that came before anyone
/// listened is delivered to the first listener.
///
/// `@unchecked Sendable`: `sources` is written once in `init` and only kept alive afterwards;
/// the mutable state is behind `Mutex`.
final class StopSignals: @unchecked Sendable {
    private struct State {
        var received = false
        var listener: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())
    private var sources: [any DispatchSourceSignal] = []

    init() {
        sources = [SIGTERM, SIGINT].map { number -> any DispatchSourceSignal in
            // Ignored at the process level so only the dispatch source sees it.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.fire() }
            source.resume()
            return source
        }
    }

    func onStop(_ listener: @escaping @Sendable () -> Void) {
        let already = state.withLock { state -> Bool in
            state.listener = listener
            return state.received
        }
        if already { listener() }
    }

    private func fire() {
        let listener = state.withLock { state -> (@Sendable () -> Void)? in
            state.received = true
            return state.listener
        }
        listener?()
    }
}

/// The connections a process opens, configured the same way everywhere.
public enum Connections {
    /// A broker client that declares `topology` on every (re)connect (nil: declares nothing).
    public static func broker(_ settings: ProcessSettings, name: String, topology: Topology?, logger: Logger) throws -> BrokerClient {
        var configuration = try AMQPConfiguration(url: settings.amqpURL)
        configuration.connectionName = name
        guard let topology else { return BrokerClient(configuration: configuration, logger: logger) }
        return BrokerClient(configuration: configuration, logger: logger) { connection in
            let drifted = try topology.apply(on: connection)
            if !drifted.isEmpty {
                logger.error(
                    "queues exist with other arguments than Queues/topology.json; they keep working as they are until `armadactl topology apply` migrates them",
                    metadata: ["queues": "\(drifted)"])
            }
        }
    }

    public static func pool(_ settings: ProcessSettings, name: String, size: Int, logger: Logger) -> PostgresPool {
        PostgresPool(connectionString: settings.databaseURL, size: size, applicationName: name, logger: logger)
    }
}
