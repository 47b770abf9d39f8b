import AMQP
import CoreMetrics
import Foundation
import Glibc
import Logging
import Postgres
import ServiceLifecycle

/// How one consumer runs.
public struct ConsumerConfiguration: Sendable {
    /// The queue and its retry policy.
    public var policy: QueuePolicy
    /// The inbox's consumer name: a redelivered message is a no-op for the same consumer.
    public var consumerName: String
    /// Transactions (and calls out) in flight at once for this consumer; the prefetch is this
    /// times `batchSize`.
    public var concurrency: Int
    /// Fault injection for the crash-between-commit-and-ack test: the process exits right
    /// after committing a message of this type, before acking it. Never set in production.
    public var crashAfterCommitOfType: String?
    /// Fault injection for the crash-after-the-outside-call test: the process exits right after
    /// a message of this type was prepared (the provider answered), before its atomic phase.
    public var crashAfterPrepareOfType: String?
    /// Messages of no handled type that this rule names go on to another queue instead of the
    /// dead-letter queue (messages routed here by bindings that no longer exist).
    public var forwardUnhandled: ForwardRule?
    /// Plain handlers' messages committed together, at most this many per transaction (group
    /// commit); 1 commits each alone. Prefetch is `concurrency × batchSize`; handlers that call
    /// out (`prepare`) still run at most `concurrency` at once.
    public var batchSize: Int

    public init(
        policy: QueuePolicy, consumerName: String, concurrency: Int = 8, crashAfterCommitOfType: String? = nil,
        crashAfterPrepareOfType: String? = nil, forwardUnhandled: ForwardRule? = nil, batchSize: Int = 1
    ) {
        self.policy = policy
        self.consumerName = consumerName
        self.concurrency = concurrency
        self.crashAfterCommitOfType = crashAfterCommitOfType
        self.crashAfterPrepareOfType = crashAfterPrepareOfType
        self.forwardUnhandled = forwardUnhandled
        self.batchSize = max(1, batchSize)
    }
}

/// Where a consumer sends messages of a type it does not handle, when the type starts with
/// `typePrefix`: the queue that handles them now (e.g. events left in a channel queue from before
/// the notifier had its own). Sent once, with a confirm, then acked.
public struct ForwardRule: Sendable, Equatable {
    public var typePrefix: String
    public var queue: String

    public init(typePrefix: String, queue: String) {
        self.typePrefix = typePrefix
        self.queue = queue
    }
}

/// Consumes one queue and runs each message's handler as one atomic phase:
/// inbox row + effects + outbox rows in one transaction, ack only after commit.
///
/// The handler's outcome decides what happens: done and rejected are acked after commit;
/// "again" waits in a delay tier without counting a failure (`x-again` counts the waits).
/// Thrown errors are classified (`classify`): transient ones wait in the queue's next delay
/// tier (the attempt count travels in the `x-attempt` header) and are dead-lettered once the
/// attempts are used up; undecodable, unknown or poison messages go straight to the
/// dead-letter queue with the error in headers. The worker stays up whatever a message contains.
public final class QueueConsumer: Service, Sendable {
    public static let attemptHeader = "x-attempt"
    public static let againHeader = "x-again"
    /// The largest body a handler is given: Armada's own messages are a few kilobytes (a Tripay
    /// callback's raw body, at most 64 KiB, is the largest); anything bigger was not published
    /// by Armada and is dead-lettered unread.
    public static let maximumBodyBytes = 1 << 20

    private let configuration: ConsumerConfiguration
    private let consumerConnection: BrokerClient
    private let publisher: BrokerClient
    private let pool: PostgresPool
    private let handlers: [String: AnyMessageHandler]
    private let relay: OutboxRelay?
    private let logger: Logger
    private let groupCommit: GroupCommit?
    /// Runs of handlers that call out, at most `concurrency` at once whatever the prefetch.
    private let preparing: AsyncLimit

    /// - Parameters:
    ///   - consumerConnection: the connection deliveries arrive on and acks go out on.
    ///   - publisher: a separate connection for retries and dead letters.
    ///   - relay: told to publish right after a handler committed outbox rows.
    public init(
        configuration: ConsumerConfiguration, consumerConnection: BrokerClient, publisher: BrokerClient, pool: PostgresPool,
        handlers: [AnyMessageHandler], relay: OutboxRelay?, logger: Logger
    ) {
        self.configuration = configuration
        self.consumerConnection = consumerConnection
        self.publisher = publisher
        self.pool = pool
        // The runtime's own message (a command failure to record) is handled on every queue.
        self.handlers = Dictionary(
            (handlers + [AnyMessageHandler(CommandStalledHandler())]).map { ($0.messageType, $0) },
            uniquingKeysWith: { _, last in last })
        self.relay = relay
        var logger = logger
        logger[metadataKey: "queue"] = "\(configuration.policy.name)"
        self.logger = logger
        groupCommit =
            configuration.batchSize > 1
            ? GroupCommit(
                maxBatch: configuration.batchSize, maxRunning: configuration.concurrency, consumer: configuration.consumerName, pool: pool)
            : nil
        preparing = AsyncLimit(permits: configuration.concurrency)
    }

    public func run() async throws {
        let subscription = consumerConnection.subscribe(
            queue: configuration.policy.name, prefetch: UInt16(clamping: configuration.concurrency * configuration.batchSize))
        logger.info(
            "consuming",
            metadata: [
                "concurrency": "\(configuration.concurrency)", "batch": "\(configuration.batchSize)", "types": "\(handlers.keys.sorted())",
            ])
        await withGracefulShutdownHandler {
            // Prefetch bounds how many deliveries are in flight, so one task per delivery is bounded too.
            await withDiscardingTaskGroup { group in
                for await delivery in subscription.deliveries {
                    group.addTask { await self.process(delivery) }
                }
            }
        } onGracefulShutdown: {
            // Stop taking work now, without waiting for the broker (it may be gone): the loop
            // above ends, in-flight handlers finish and ack; what arrives later is requeued.
            subscription.stop()
        }
        logger.info("stopped consuming")
    }

    /// Handles one delivery to its end: acked, retried, recorded or dead-lettered.
    func process(_ delivery: Delivery) async {
        let attempt = Int(delivery.properties.headers[Self.attemptHeader]?.intValue ?? 0)
        guard delivery.body.count <= Self.maximumBodyBytes else {
            await deadLetter(
                delivery, type: delivery.properties.type ?? "unknown", attempt: attempt, errorClass: "too-large",
                reason: "the body is \(delivery.body.count) bytes, over the \(Self.maximumBodyBytes) a message may have")
            return
        }
        let header: EnvelopeHeader
        do {
            header = try MessageCoding.decoder().decode(EnvelopeHeader.self, from: Data(delivery.body))
        } catch {
            await deadLetter(
                delivery, type: delivery.properties.type ?? "unknown", attempt: attempt, errorClass: "undecodable",
                reason: "the envelope does not decode: \(error)")
            return
        }
        var logger = self.logger
        logger[metadataKey: "message_id"] = "\(header.id.uuidString.lowercased())"
        logger[metadataKey: "message_type"] = "\(header.type)"
        if let correlation = header.correlationId { logger[metadataKey: "correlation_id"] = "\(correlation)" }
        let queue = configuration.policy.name

        guard let handler = handlers[header.type] else {
            if let rule = configuration.forwardUnhandled, header.type.hasPrefix(rule.typePrefix) {
                do {
                    try await forwardOnce(delivery, copy: "forward", to: rule.queue, properties: delivery.properties)
                    consumerConnection.ack(delivery)
                    logger.info("forwarded a message this queue no longer handles", metadata: ["to": "\(rule.queue)"])
                } catch {
                    logger.warning("could not forward; requeueing", metadata: ["error": "\(error)"])
                    await requeueAfterPause(delivery)
                }
                return
            }
            await deadLetter(
                delivery, type: header.type, attempt: attempt, errorClass: "unknown-type",
                reason: "no handler for message type \(header.type) on \(queue)", logger: logger)
            return
        }

        let started = ContinuousClock.now
        let runAt = Date()
        do {
            let outcome: AtomicPhase.Outcome
            if let groupCommit, handler.prepare == nil {
                outcome = try await groupCommit.submit(
                    AtomicPhase.BatchItem(
                        handler: handler, body: delivery.body, header: header, attempt: attempt, runAt: runAt, logger: logger)
                ).get()
            } else {
                outcome = try await preparing.run {
                    try await AtomicPhase.run(
                        handler, body: delivery.body, header: header, consumer: configuration.consumerName, attempt: attempt,
                        runAt: runAt, pool: pool, logger: logger,
                        afterPrepare: { [configuration] in
                            if configuration.crashAfterPrepareOfType == header.type {
                                logger.critical("fault injection: exiting between the outside call and the commit")
                                // As abruptly as a kill: no exit handlers (exit() can wait on threads still at work).
                                _exit(87)
                            }
                        })
                }
            }
            if configuration.crashAfterCommitOfType == header.type {
                logger.critical("fault injection: exiting between commit and ack")
                exit(86)
            }
            RuntimeMetrics.duration(queue, header.type).recordInterval(since: started)
            switch outcome {
            case .duplicate:
                consumerConnection.ack(delivery)
                RuntimeMetrics.duplicates(queue, header.type).increment()
                logger.info("already processed; acknowledged without effect")
            case .applied(let sent):
                consumerConnection.ack(delivery)
                RuntimeMetrics.processed(queue, header.type).increment()
                logger.info("processed", metadata: ["duration_ms": "\((ContinuousClock.now - started).milliseconds)", "sent": "\(sent)"])
                if sent > 0 { relay?.notify() }
            case .rejected(let code, let message):
                consumerConnection.ack(delivery)
                RuntimeMetrics.failed(queue, header.type).increment()
                logger.notice("rejected; outcome recorded", metadata: ["error_code": "\(code)", "error": "\(message)"])
            case .again(let after, let deadline, let reason):
                await runAgain(delivery, header: header, after: after, deadline: deadline, reason: reason, runAt: runAt, logger: logger)
            }
        } catch {
            RuntimeMetrics.duration(queue, header.type).recordInterval(since: started)
            await handleFailure(error, delivery: delivery, header: header, attempt: attempt, logger: logger)
        }
    }

    /// Parks the message in a delay tier without counting a failure (`x-again` counts the waits).
    private func runAgain(
        _ delivery: Delivery, header: EnvelopeHeader, after: Duration, deadline: Date, reason: String, runAt: Date, logger: Logger
    ) async {
        let waits = Int(delivery.properties.headers[Self.againHeader]?.intValue ?? 0) + 1
        guard runAt < deadline else {
            await deadLetter(
                delivery, type: header.type, attempt: waits, errorClass: "deadline-passed",
                reason: "still waiting at its deadline \(ISO8601DateFormatter().string(from: deadline)): \(reason)", logger: logger,
                commandId: header.commandId)
            return
        }
        guard let tier = configuration.policy.delayTier(forAbout: after) else {
            await deadLetter(
                delivery, type: header.type, attempt: waits, errorClass: "no-delay-tier",
                reason: "asked to run again but \(configuration.policy.name) has no delay tier: \(reason)", logger: logger,
                commandId: header.commandId)
            return
        }
        var properties = delivery.properties
        properties.headers[Self.againHeader] = .int(Int64(waits))
        properties.headers["x-again-reason"] = .string(String(reason.prefix(500)))
        do {
            try await forwardOnce(delivery, copy: "again-\(waits)", to: tier.queue, properties: properties)
            consumerConnection.ack(delivery)
            RuntimeMetrics.again(configuration.policy.name, header.type).increment()
            logger.info(
                "not yet; running again later", metadata: ["again_in_s": "\(tier.seconds)", "waits": "\(waits)", "reason": "\(reason)"])
        } catch {
            logger.warning("could not park the message for later; requeueing", metadata: ["error": "\(error)"])
            await requeueAfterPause(delivery)
        }
    }

    private func handleFailure(_ error: Error, delivery: Delivery, header: EnvelopeHeader, attempt: Int, logger: Logger) async {
        switch classify(error) {
        case .poison:
            await deadLetter(
                delivery, type: header.type, attempt: attempt + 1, errorClass: "poison", reason: "\(error)", logger: logger,
                commandId: header.commandId)
        case .transient:
            let failedAttempts = attempt + 1
            switch configuration.policy.afterTransientFailure(failedAttempts: failedAttempts) {
            case .retry(let delayQueue, let seconds):
                var properties = delivery.properties
                properties.headers[Self.attemptHeader] = .int(Int64(failedAttempts))
                properties.headers["x-last-error"] = .string(String("\(error)".prefix(500)))
                do {
                    try await forwardOnce(delivery, copy: "retry-\(failedAttempts)", to: delayQueue, properties: properties)
                    consumerConnection.ack(delivery)
                    RuntimeMetrics.retried(configuration.policy.name, header.type).increment()
                    logger.warning(
                        "failed; retrying later",
                        metadata: ["attempt": "\(failedAttempts)", "retry_in_s": "\(seconds)", "error": "\(error)"])
                } catch {
                    logger.warning("could not schedule the retry; requeueing", metadata: ["error": "\(error)"])
                    await requeueAfterPause(delivery)
                }
            case .deadLetter:
                await deadLetter(
                    delivery, type: header.type, attempt: failedAttempts, errorClass: "retries-exhausted",
                    reason: "\(error)", logger: logger, commandId: header.commandId)
            }
        }
    }

    /// Moves a message to the queue's dead-letter queue with the error, its class, the attempts
    /// and where it came from in headers, then acks the original. A command is marked failed
    /// stalled first (not final: a replay may still carry it out); when the database cannot record that, the failure is sent to this queue as a
    /// `runtime.command-stalled` message (recorded once the database answers) and the message is
    /// dead-lettered all the same; when even that cannot be sent, the delivery is requeued.
    private func deadLetter(
        _ delivery: Delivery, type: String, attempt: Int, errorClass: String, reason: String, logger: Logger? = nil,
        commandId: UUID? = nil
    ) async {
        let logger = logger ?? self.logger
        let queue = configuration.policy.name
        if let commandId {
            do {
                // The customer sees a failure now; a replay that succeeds later overwrites it.
                try await pool.transaction { connection in
                    try Commands.stall(
                        commandId, code: .processingFailed, message: "the command could not be processed; operators were alerted",
                        on: connection)
                }
            } catch {
                let record = Envelope(
                    id: MessageID.derive("command-failed", commandId.uuidString),
                    data: CommandStalled(
                        commandId: commandId, code: .processingFailed, message: "the command could not be processed; operators were alerted"
                    ),
                    occurredAt: Date())
                do {
                    try await publisher.publish(
                        exchange: "", routingKey: queue,
                        properties: .armada(messageId: record.id, type: CommandStalled.messageType, correlationId: nil),
                        body: try record.encoded())
                    RuntimeMetrics.commandsUnmarked.increment()
                    logger.warning(
                        "could not mark the command stalled now; its stall waits in the queue",
                        metadata: ["error": "\(error)", "command_id": "\(commandId)"])
                } catch {
                    logger.warning("could not record the command's stall anywhere; requeueing", metadata: ["error": "\(error)"])
                    await requeueAfterPause(delivery)
                    return
                }
            }
        }
        var properties = delivery.properties
        properties.headers["x-error"] = .string(String(reason.prefix(2000)))
        properties.headers["x-error-class"] = .string(errorClass)
        properties.headers["x-attempts"] = .int(Int64(attempt))
        properties.headers["x-original-queue"] = .string(queue)
        properties.headers["x-original-exchange"] = .string(delivery.exchange)
        properties.headers["x-original-routing-key"] = .string(delivery.routingKey)
        properties.headers["x-dead-lettered-at"] = .string(ISO8601DateFormatter().string(from: Date()))
        if properties.type == nil { properties.type = type }
        do {
            try await forwardOnce(delivery, copy: "dead", to: configuration.policy.deadLetterQueue, properties: properties)
            consumerConnection.ack(delivery)
            RuntimeMetrics.deadLettered(queue, type).increment()
            logger.error("dead-lettered", metadata: ["error_class": "\(errorClass)", "error": "\(reason)", "attempts": "\(attempt)"])
        } catch {
            logger.warning("could not dead-letter; requeueing", metadata: ["error": "\(error)"])
            await requeueAfterPause(delivery)
        }
    }
}

extension QueueConsumer {
    /// Publishes a copy of a delivery (to a delay tier or the dead-letter queue) once. If the
    /// original's ack was lost after an earlier copy was confirmed, the broker delivers the
    /// original again (`redelivered`): the recorded copy is not published a second time.
    func forwardOnce(_ delivery: Delivery, copy: String, to queue: String, properties: MessageProperties) async throws {
        let consumer = configuration.consumerName
        let key = delivery.properties.messageId
        // A replayed dead letter starts a new life: its copies are told apart from the first life's.
        let copy = copy + (delivery.properties.headers["x-replayed-at"]?.stringValue.map { "@" + $0 } ?? "")
        if delivery.redelivered, let key {
            // Best effort: without the database the copy is published (the inbox absorbs a
            // duplicate), never skipped.
            let recorded = try? await pool.withConnection {
                try DeliveryCopies.exists(consumer: consumer, messageId: key, copy: copy, on: $0)
            }
            if recorded == true {
                logger.notice(
                    "a copy of this delivery was published before its ack was lost; not publishing it again", metadata: ["copy": "\(copy)"])
                return
            }
        }
        try await publisher.publish(exchange: "", routingKey: queue, properties: properties, body: delivery.body)
        if let key {
            // Best effort: without the record a lost ack could make one more copy, never fewer.
            try? await pool.withConnection { try DeliveryCopies.record(consumer: consumer, messageId: key, copy: copy, on: $0) }
        }
    }

    /// Gives a delivery back when its outcome could not be recorded or forwarded (the database
    /// or the publishing connection is down). Waiting first keeps a short outage from becoming a
    /// hot redelivery loop that burns through the queue's delivery limit; the wait grows with the
    /// broker's `x-delivery-count`, up to 5 s, while this delivery holds its prefetch slot.
    func requeueAfterPause(_ delivery: Delivery) async {
        let redeliveries = Int(delivery.properties.headers["x-delivery-count"]?.intValue ?? 0)
        let pause = min(5_000, 250 << min(redeliveries, 5))
        try? await Task.sleep(for: .milliseconds(pause))
        consumerConnection.nack(delivery, requeue: true)
    }
}

extension Duration {
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

extension CoreMetrics.Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
