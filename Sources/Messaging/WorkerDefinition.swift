import AMQP
import Logging
import Postgres

/// One business area's worker, as a value (a process may run several: the notifier): the queue it consumes, a handler per message type it
/// consumes, the types it publishes, and its periodic jobs. `WorkerProcess` (ArmadaService)
/// turns it into a running process; the catalogue test checks it against `Queues/`.
public struct WorkerDefinition: Sendable {
    /// The process name, which is also its inbox consumer name and the `consumer` of its queue in
    /// `Queues/topology.json`.
    public var name: String
    public var queue: String
    public var handlers: [AnyMessageHandler]
    /// Events and commands its handlers and jobs send (for the catalogue).
    public var publishes: [any MessageBody.Type]
    public var periodic: [PeriodicJob]
    /// Unhandled types to pass on to another queue rather than dead-letter (`ForwardRule`).
    public var forwardUnhandled: ForwardRule?
    /// Group commit for this worker's plain handlers: nil takes the process's
    /// `ARMADA_BATCH_SIZE`; 1 turns it off (and keeps the prefetch at the concurrency), for
    /// workers whose handlers mostly call out, where a deep prefetch would only hoard messages
    /// other processes could take.
    public var batchSize: Int?

    public init(
        name: String, queue: String, handlers: [AnyMessageHandler], publishes: [any MessageBody.Type] = [],
        periodic: [PeriodicJob] = [], forwardUnhandled: ForwardRule? = nil, batchSize: Int? = nil
    ) {
        self.name = name
        self.queue = queue
        self.handlers = handlers
        self.publishes = publishes
        self.periodic = periodic
        self.forwardUnhandled = forwardUnhandled
        self.batchSize = batchSize
    }

    /// Every message type this worker consumes or publishes.
    public var messageTypes: [any MessageBody.Type] {
        handlers.map(\.bodyType) + publishes
    }
}

/// What a business area may use to build its worker: the pool, a publishing broker connection
/// (for jobs that publish outside a handler), a logger and the environment.
public struct WorkerResources: Sendable {
    public let pool: PostgresPool
    public let publisher: BrokerClient
    public let logger: Logger
    public let environment: EnvironmentReader

    public init(pool: PostgresPool, publisher: BrokerClient, logger: Logger, environment: EnvironmentReader) {
        self.pool = pool
        self.publisher = publisher
        self.logger = logger
        self.environment = environment
    }
}
