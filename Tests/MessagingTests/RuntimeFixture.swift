import AMQP
import ArmadaTestSupport
import Foundation
import Logging
import Messaging
import Postgres
import Retriability

struct RuntimeCommand: MessageBody {
    static let messageType = "test.runtime-command"
    static let exchange = Exchange.commands
    var key: String
}

struct FollowUp: MessageBody {
    static let messageType = "test.follow-up"
    static let exchange = Exchange.commands
    var key: String
}

/// A handler whose behaviour each test scripts; it counts its invocations. Keys starting with
/// "sentinel" are recorded and done, whatever the script says.
struct ScriptedHandler: MessageHandler {
    let invocations: Shared<[String: Int]>
    let script: @Sendable (Envelope<RuntimeCommand>, inout HandlerContext, Int) throws -> HandlerOutcome

    func handle(_ message: Envelope<RuntimeCommand>, context: inout HandlerContext) throws -> HandlerOutcome {
        var count = 0
        invocations.update {
            $0[message.data.key, default: 0] += 1
            count = $0[message.data.key] ?? 0
        }
        if message.data.key.hasPrefix("sentinel") {
            try recordEffect(message, context)
            return .done
        }
        return try script(message, &context, count)
    }
}

/// An outage a retry can cure, as a provider's error would report it.
struct Outage: RetryClassifiable, CustomStringConvertible {
    var description: String
    var isRetriable: Bool { true }
}

/// Records one row per applied command: the effect whose count the tests check.
func recordEffect(_ message: Envelope<RuntimeCommand>, _ context: HandlerContext) throws {
    try context.connection.execute("INSERT INTO runtime_effects (message_id, key) VALUES ($1, $2)", message.id, message.data.key)
}

/// A queue of its own (with delay tiers and a dead-letter queue) and a consumer running on it
/// in this process, against the real broker and database.
final class RuntimeFixture: Sendable {
    let policy: QueuePolicy
    let consumerConnection: BrokerClient
    let publisher: BrokerClient
    /// The test's own connection for publishing input and inspecting queues, so its polling
    /// never shares a channel with the runtime under test.
    let probe: BrokerClient
    let pool: PostgresPool
    let relay: OutboxRelay
    let invocations = Shared<[String: Int]>([:])
    private let running: Shared<Task<Void, Error>?> = Shared(nil)
    private let consumer: QueueConsumer

    /// - Parameter concurrency: 1 makes the consumer take messages one at a time, in queue order,
    ///   so a sentinel sent after a message is handled after it.
    init(
        maxAttempts: Int = 3, delayTiersSeconds: [Int] = [1, 2], concurrency: Int = 4, batchSize: Int = 1, startConsuming: Bool = true,
        script: @escaping @Sendable (Envelope<RuntimeCommand>, inout HandlerContext, Int) throws -> HandlerOutcome
    ) async throws {
        let queue = TestEnvironment.unique("test.runtime")
        let topology = try Topology.bundled().with(queues: [
            .init(name: queue, bindings: [], maxAttempts: maxAttempts, delayTiersSeconds: delayTiersSeconds)
        ])
        policy = try topology.policy(for: queue)
        var configuration = try AMQPConfiguration(url: TestEnvironment.amqpURL)
        configuration.connectionName = queue
        var logger = Logger(label: "test.runtime")
        logger.logLevel = ProcessInfo.processInfo.environment["ARMADA_TEST_LOG"] == "debug" ? .debug : .critical
        consumerConnection = BrokerClient(configuration: configuration, logger: logger) { try topology.apply(on: $0) }
        publisher = BrokerClient(configuration: configuration, logger: logger) { try topology.apply(on: $0) }
        probe = BrokerClient(configuration: configuration, logger: logger) { try topology.apply(on: $0) }
        consumerConnection.start()
        publisher.start()
        probe.start()
        try await consumerConnection.waitUntilConnected()
        try await publisher.waitUntilConnected()
        try await probe.waitUntilConnected()
        pool = TestDatabase.pool(size: 4, name: "runtime-tests")
        try await pool.transaction { connection in
            // Parallel tests race on CREATE TABLE IF NOT EXISTS; the lock makes them take turns.
            try connection.execute("SELECT pg_advisory_xact_lock(77001)")
            try connection.execute("CREATE TABLE IF NOT EXISTS runtime_effects (message_id uuid NOT NULL, key text NOT NULL)")
        }
        relay = OutboxRelay(pool: pool, broker: publisher, logger: logger)
        let handler = ScriptedHandler(invocations: invocations, script: script)
        consumer = QueueConsumer(
            configuration: ConsumerConfiguration(
                policy: policy, consumerName: "runtime-tests-\(queue)", concurrency: concurrency, batchSize: batchSize),
            consumerConnection: consumerConnection, publisher: publisher, pool: pool, handlers: [AnyMessageHandler(handler)],
            relay: nil, logger: logger)
        if startConsuming { start() }
    }

    /// Starts the consumer (when the fixture was made with `startConsuming: false`).
    func start() {
        let consumer = self.consumer
        running.update { $0 = Task { try await consumer.run() } }
    }

    var consumerName: String { "runtime-tests-\(policy.name)" }

    func send(_ key: String, id: UUID = UUID(), commandId: UUID? = nil, headers: [String: HeaderValue] = [:]) async throws
        -> Envelope<RuntimeCommand>
    {
        let envelope = Envelope(id: id, data: RuntimeCommand(key: key), occurredAt: Date(), commandId: commandId)
        var properties = MessageProperties(messageId: id.uuidString)
        properties.headers = headers
        try await probe.publish(exchange: "", routingKey: policy.name, properties: properties, body: try envelope.encoded())
        return envelope
    }

    /// Makes `sent` a real redelivery (taken, not acked, given back), records `copy` as published
    /// for it, then starts the consumer (a fixture made with `startConsuming: false`).
    func redeliverWithRecordedCopy(_ sent: Envelope<RuntimeCommand>, copy: String) async throws {
        let queue = policy.name
        guard let taken = try await probe.perform({ try $0.get(queue: queue) }) else { throw TestFailure("nothing to redeliver") }
        let tag = taken.deliveryTag
        try await probe.perform { try $0.nack(tag, requeue: true) }
        let consumer = consumerName
        try await pool.withConnection { connection in
            try connection.execute(
                "INSERT INTO delivery_copies (consumer, message_id, copy) VALUES ($1, $2, $3)", consumer, sent.id.uuidString, copy)
        }
        start()
    }

    /// Sends a sentinel and waits until it took effect: with `concurrency: 1`, every message sent
    /// before it has been handled to its end (acked, retried or dead-lettered) by then.
    func sendSentinelAndWait() async throws {
        let key = TestEnvironment.unique("sentinel")
        _ = try await send(key)
        let handled = await eventually(timeout: .seconds(20)) { (try? await effects(key)) == 1 }
        guard handled else { throw TestFailure("the sentinel \(key) was not handled within 20 s") }
    }

    func publishRaw(_ bytes: [UInt8], messageId: String = UUID().uuidString) async throws {
        try await probe.publish(exchange: "", routingKey: policy.name, properties: MessageProperties(messageId: messageId), body: bytes)
    }

    func effects(_ key: String) async throws -> Int {
        try await pool.withConnection { connection in
            try connection.query("SELECT count(*) AS n FROM runtime_effects WHERE key = $1", key).first!.decode("n", as: Int.self)
        }
    }

    /// Takes every message out of the dead-letter queue.
    func drainDeadLetters() async throws -> [(properties: MessageProperties, body: [UInt8])] {
        let queue = policy.deadLetterQueue
        var messages: [(MessageProperties, [UInt8])] = []
        while let message = try await probe.perform({ try $0.get(queue: queue) }) {
            let tag = message.deliveryTag
            try await probe.perform { try $0.ack(tag) }
            messages.append((message.properties, message.body))
        }
        return messages
    }

    func depth(_ queue: String) async throws -> UInt32 {
        try await probe.queueStatus(queue).messages
    }

    func stop() async {
        await consumerConnection.cancelConsumers()
        _ = await running.value?.result
        for queue in policy.allQueues { _ = try? await probe.perform { try $0.deleteQueue(queue) } }
        await consumerConnection.close()
        await publisher.close()
        await probe.close()
    }
}
