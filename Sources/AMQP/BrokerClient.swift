import CRabbitMQ
import Foundation
import Glibc
import Logging
import Synchronization

/// A connection to RabbitMQ that async code can share.
///
/// rabbitmq-c is synchronous and its connections must not be shared between threads, and it
/// services heartbeats only inside its own calls. So each `BrokerClient` owns one dedicated I/O
/// thread that owns the `AMQPConnection`: it polls the socket and a wake-up eventfd, sends
/// publishes and acks handed to it, reads confirms and deliveries, and keeps heartbeats going
/// however long handlers run. Async callers talk to it through a request queue and continuations.
///
/// A lost connection fails the publishes awaiting confirms (`connectionLost`), voids the
/// delivery tags of that connection, and is re-opened with backoff; `setup` (topology) runs and
/// consumers are re-registered on every new connection. A watchdog shuts the socket down if a
/// library call blocks beyond the heartbeat bound (rabbitmq-c 0.11 can block in a publish to a
/// frozen broker), so a lost broker is noticed within about twice the heartbeat interval.
///
/// Use one client for publishing and another for consuming: flow control on a publishing
/// connection would also stall the acks of consumers sharing it.
public final class BrokerClient: Sendable {
    public typealias Setup = @Sendable (AMQPConnection) throws -> Void

    private let loop: IOLoop

    /// - Parameters:
    ///   - setup: runs on every new connection before anything else (declare the topology here).
    public init(configuration: AMQPConfiguration, logger: Logger, setup: Setup? = nil) {
        loop = IOLoop(configuration: configuration, logger: logger, setup: setup)
    }

    /// Starts the I/O thread; the connection opens in the background.
    public func start() {
        loop.start()
    }

    public var isConnected: Bool { loop.status.withLock { $0.connected } }

    /// Waits until the connection is open, or throws the last connect error after `timeout`.
    public func waitUntilConnected(timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if isConnected { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        let reason = loop.status.withLock { $0.lastError } ?? "not connected"
        throw AMQPError(.notConnected, "broker not reachable within \(timeout): \(reason)")
    }

    /// Publishes a persistent message and returns once the broker confirmed it.
    ///
    /// Throws `notConnected` at once when there is no connection (callers answer 503 or retry
    /// later), `nacked` on `basic.nack`, `unroutable` when a mandatory message reached no queue,
    /// `connectionLost` when the connection died before the confirm, `confirmTimeout` after the
    /// configured wait. Many publishes may be in flight at once.
    public func publish(
        exchange: String, routingKey: String, properties: MessageProperties, body: [UInt8], mandatory: Bool = true
    ) async throws {
        let request = PublishRequest(exchange: exchange, routingKey: routingKey, properties: properties, body: body, mandatory: mandatory)
        try await loop.call { reply in .publish(request, reply) }
    }

    /// Starts consuming `queue` with `prefetch` unacknowledged messages at most. The registration
    /// survives reconnects. The stream ends when the subscription is stopped, consumers are
    /// cancelled, or the client closes.
    public func consume(queue: String, prefetch: UInt16) -> AsyncStream<Delivery> {
        subscribe(queue: queue, prefetch: prefetch).deliveries
    }

    /// Like `consume`, with a handle that ends the stream at once, whatever state the
    /// connection is in (open, reconnecting, closed): what a consumer does on shutdown.
    public func subscribe(queue: String, prefetch: UInt16) -> BrokerSubscription {
        let (stream, continuation) = AsyncStream<Delivery>.makeStream(bufferingPolicy: .unbounded)
        let id = loop.nextRegistrationId()
        let registration = ConsumerRegistration(id: id, queue: queue, prefetch: prefetch, continuation: continuation)
        // However the stream ends (stopped, the iterating task cancelled), the broker consumer
        // is cancelled too, so a reconnect does not consume for nobody.
        let loop = self.loop
        continuation.onTermination = { _ in loop.submit(.cancelConsumer(id)) }
        if !loop.submit(.consume(registration)) { continuation.finish() }
        return BrokerSubscription(deliveries: stream, continuation: continuation)
    }

    public func ack(_ delivery: Delivery) {
        loop.submit(.settle(.ack, delivery.deliveryTag, delivery.generation))
    }

    public func nack(_ delivery: Delivery, requeue: Bool) {
        loop.submit(.settle(requeue ? .nackRequeue : .nackDrop, delivery.deliveryTag, delivery.generation))
    }

    public func reject(_ delivery: Delivery, requeue: Bool) {
        loop.submit(.settle(requeue ? .rejectRequeue : .rejectDrop, delivery.deliveryTag, delivery.generation))
    }

    /// Runs `operation` on the I/O thread with the open connection (declares, passive declares,
    /// purges, `basic.get`). Throws `notConnected` when there is none.
    @discardableResult
    public func perform<T: Sendable>(_ operation: @escaping @Sendable (AMQPConnection) throws -> T) async throws -> T {
        try await loop.call { (reply: Reply<T>) in
            .perform({ connection in
                guard let connection else {
                    reply.resume(throwing: AMQPError(.notConnected, "no connection to the broker"))
                    return
                }
                reply.resume(with: Result { try operation(connection) })
            })
        }
    }

    public func queueStatus(_ name: String) async throws -> QueueStatus {
        try await perform { try $0.queueStatus(name) }
    }

    /// Stops all consumers (waiting for `cancel-ok`) and ends their streams. Acks for messages
    /// already delivered still go through.
    public func cancelConsumers() async {
        try? await loop.call { reply in .cancelConsumers(reply) }
    }

    /// Sends everything queued, cancels consumers, closes the connection and ends the thread.
    /// Returns at once when the client is already closed, and when the calling task is cancelled.
    public func close() async {
        if Task.isCancelled {
            loop.submit(.close(nil))
            return
        }
        try? await loop.call { reply in .close(reply) }
    }
}

/// A consumer registration and its deliveries.
public struct BrokerSubscription: Sendable {
    public let deliveries: AsyncStream<Delivery>
    let continuation: AsyncStream<Delivery>.Continuation

    /// Ends the delivery stream now (deliveries already in it are still iterated) and asks the
    /// I/O thread to cancel the consumer; deliveries that arrive meanwhile go back to the queue.
    /// Never waits for the broker.
    public func stop() {
        continuation.finish()
    }
}

/// A continuation that is resumed once: by the I/O thread, by cancellation of the waiting task,
/// or by the client refusing a request after it closed, whichever comes first.
final class Reply<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, Error>?>

    init(_ continuation: CheckedContinuation<T, Error>) {
        self.continuation = Mutex(continuation)
    }

    func resume(with result: Result<T, Error>) {
        continuation.withLock { stored in
            defer { stored = nil }
            return stored
        }?.resume(with: result)
    }

    func resume(returning value: T) { resume(with: .success(value)) }
    func resume(throwing error: Error) { resume(with: .failure(error)) }
}

extension Reply where T == Void {
    func resume() { resume(with: .success(())) }
}

struct PublishRequest: Sendable {
    var exchange: String
    var routingKey: String
    var properties: MessageProperties
    var body: [UInt8]
    var mandatory: Bool
}

struct ConsumerRegistration: Sendable {
    var id: Int
    var queue: String
    var prefetch: UInt16
    var continuation: AsyncStream<Delivery>.Continuation
}

enum Settlement: Sendable {
    case ack, nackRequeue, nackDrop, rejectRequeue, rejectDrop
}

enum LoopRequest: Sendable {
    case publish(PublishRequest, Reply<Void>)
    case consume(ConsumerRegistration)
    case cancelConsumer(Int)
    case settle(Settlement, UInt64, UInt64)
    case perform(@Sendable (AMQPConnection?) -> Void)
    case cancelConsumers(Reply<Void>)
    /// Nil when nobody waits for the close (a cancelled caller).
    case close(Reply<Void>?)

    /// Answers a request the loop will never process (the client closed).
    func refuse() {
        let closed = AMQPError(.closed, "client closed")
        switch self {
        case .publish(_, let reply): reply.resume(throwing: closed)
        case .perform(let operation): operation(nil)
        case .cancelConsumers(let reply): reply.resume()
        case .close(let reply): reply?.resume()
        case .consume(let registration): registration.continuation.finish()
        case .cancelConsumer, .settle: break
        }
    }
}

/// The request queue; once the loop stopped it refuses new requests instead of keeping them.
struct RequestQueue {
    var items: [LoopRequest] = []
    var stopped = false
}

struct LoopStatus: Sendable {
    var connected = false
    var lastError: String?
    /// The socket the watchdog may shut down; -1 while none is open.
    var watchedDescriptor: Int32 = -1
    /// When the I/O thread entered a library call that can block; nil while it waits in poll.
    var busySince: ContinuousClock.Instant?
    /// Set when the client closed: the watchdog ends.
    var stopped = false
}

/// The state of one I/O thread.
///
/// `@unchecked Sendable` because the fields below `// thread-confined` are touched only by the
/// I/O thread itself; everything other threads reach is behind `Mutex` (`requests`, `status`)
/// or is the eventfd, whose writes are atomic.
final class IOLoop: @unchecked Sendable {
    let configuration: AMQPConfiguration
    let logger: Logger
    let setup: BrokerClient.Setup?
    let requests = Mutex(RequestQueue())
    private let registrationIds = Mutex(0)
    let status = Mutex(LoopStatus())
    private let wakeDescriptor: Int32
    private let started = Mutex(false)

    // thread-confined
    private var connection: AMQPConnection?
    private var generation: UInt64 = 0
    private var pending: [UInt64: PendingConfirm] = [:]
    private var registrations: [Int: ConsumerRegistration] = [:]
    private var consumersByTag: [String: Int] = [:]
    /// Registrations the broker cancelled (queue deleted, leader moved): when to subscribe again,
    /// and each one's next wait (doubling to 30 s while the broker keeps cancelling it; a
    /// reconnect resets it).
    private var resubscribeAt: [Int: ContinuousClock.Instant] = [:]
    private var resubscribeDelay: [Int: Double] = [:]
    private var reconnectDelay: Double = 0.1
    /// The node the next connect tries (a cluster's URLs in turn, moving on after a failure).
    private var endpointIndex = 0
    private var nextConnectAttempt = ContinuousClock.now
    private var lastTimeoutScan = ContinuousClock.now
    private var closeRequested = false
    private var closeReplies: [Reply<Void>] = []

    struct PendingConfirm {
        var continuation: Reply<Void>?
        var messageId: String?
        var mandatory: Bool
        var deadline: ContinuousClock.Instant
        var returned: String?
    }

    init(configuration: AMQPConfiguration, logger: Logger, setup: BrokerClient.Setup?) {
        self.configuration = configuration
        self.logger = logger
        self.setup = setup
        wakeDescriptor = armada_eventfd_nonblocking()
    }

    deinit {
        close(wakeDescriptor)
    }

    func start() {
        let first = started.withLock { started in
            defer { started = true }
            return !started
        }
        guard first else { return }
        let thread = Thread { [self] in run() }
        thread.name = "amqp-io-\(configuration.connectionName)"
        thread.start()
        let watchdog = Thread { [self] in watch() }
        watchdog.name = "amqp-watchdog-\(configuration.connectionName)"
        watchdog.start()
    }

    /// Hands a request to the I/O thread; false (and the request refused) once the loop stopped.
    @discardableResult
    func submit(_ request: LoopRequest) -> Bool {
        let accepted = requests.withLock { queue in
            if queue.stopped { return false }
            queue.items.append(request)
            return true
        }
        guard accepted else {
            request.refuse()
            return false
        }
        var one: UInt64 = 1
        _ = write(wakeDescriptor, &one, 8)
        return true
    }

    /// Submits a request whose reply an async caller awaits. The wait ends when the loop
    /// answers, when the loop has stopped (refused), or when the calling task is cancelled.
    func call<T: Sendable>(_ makeRequest: (Reply<T>) -> LoopRequest) async throws -> T {
        let box = Mutex<Reply<T>?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
                let reply = Reply(continuation)
                box.withLock { $0 = reply }
                if Task.isCancelled {
                    reply.resume(throwing: CancellationError())
                    return
                }
                submit(makeRequest(reply))
            }
        } onCancel: {
            box.withLock { $0 }?.resume(throwing: CancellationError())
        }
    }

    func nextRegistrationId() -> Int {
        registrationIds.withLock { id in
            id += 1
            return id
        }
    }

    // MARK: the I/O thread

    private func run() {
        while true {
            if connection == nil, !closeRequested, ContinuousClock.now >= nextConnectAttempt {
                connect()
            }
            processRequests()
            if closeRequested {
                shutdown()
                for reply in closeReplies { reply.resume() }
                return
            }
            resubscribeDue()
            expireConfirms()
            waitAndReadEvents()
        }
    }

    private func connect() {
        markBusy()
        defer { markIdle() }
        do {
            let endpoints = configuration.endpoints
            var attempt = configuration
            attempt.host = endpoints[endpointIndex % endpoints.count].host
            attempt.port = endpoints[endpointIndex % endpoints.count].port
            let connection: AMQPConnection
            do {
                connection = try AMQPConnection(configuration: attempt)
            } catch {
                endpointIndex += 1
                throw error
            }
            status.withLock { $0.watchedDescriptor = connection.socketDescriptor }
            try setup?(connection)
            try connection.enableConfirms()
            generation += 1
            self.connection = connection
            resubscribeAt.removeAll()
            resubscribeDelay.removeAll()
            for (id, registration) in registrations.sorted(by: { $0.key < $1.key }) {
                let tag = try connection.consume(queue: registration.queue, prefetch: registration.prefetch)
                consumersByTag[tag] = id
            }
            reconnectDelay = 0.1
            status.withLock {
                $0.connected = true
                $0.lastError = nil
            }
            logger.info(
                "connected to broker",
                metadata: ["amqp_host": "\(attempt.host):\(attempt.port)", "generation": "\(generation)"])
        } catch {
            logger.warning(
                "broker connect failed", metadata: ["error": "\(error)", "retry_in_s": "\(reconnectDelay)"])
            status.withLock { $0.lastError = "\(error)" }
            tearDown(AMQPError(.connectionLost, "\(error)"))
        }
    }

    private func processRequests() {
        let batch = requests.withLock { queue in
            defer { queue.items.removeAll(keepingCapacity: true) }
            return queue.items
        }
        guard !batch.isEmpty else { return }
        markBusy()
        defer { markIdle() }
        for request in batch {
            switch request {
            case .publish(let publish, let continuation):
                guard let connection, !closeRequested else {
                    continuation.resume(throwing: AMQPError(closeRequested ? .closed : .notConnected, "no connection to the broker"))
                    continue
                }
                do {
                    let sequence = try connection.publish(
                        exchange: publish.exchange, routingKey: publish.routingKey, mandatory: publish.mandatory,
                        properties: publish.properties, body: publish.body)
                    pending[sequence] = PendingConfirm(
                        continuation: continuation, messageId: publish.properties.messageId, mandatory: publish.mandatory,
                        deadline: .now + .milliseconds(Int(configuration.confirmTimeout * 1000)))
                } catch {
                    continuation.resume(throwing: error)
                    tearDown(error)
                }
            case .consume(let registration):
                registrations[registration.id] = registration
                if let connection {
                    do {
                        let tag = try connection.consume(queue: registration.queue, prefetch: registration.prefetch)
                        consumersByTag[tag] = registration.id
                    } catch {
                        logger.error("consume failed", metadata: ["queue": "\(registration.queue)", "error": "\(error)"])
                        tearDown(error)
                    }
                }
            case .settle(let settlement, let tag, let deliveryGeneration):
                // A tag from an earlier connection means nothing now: the broker already requeued it.
                guard let connection, deliveryGeneration == generation else { continue }
                do {
                    switch settlement {
                    case .ack: try connection.ack(tag)
                    case .nackRequeue: try connection.nack(tag, requeue: true)
                    case .nackDrop: try connection.nack(tag, requeue: false)
                    case .rejectRequeue: try connection.reject(tag, requeue: true)
                    case .rejectDrop: try connection.reject(tag, requeue: false)
                    }
                } catch {
                    tearDown(error)
                }
            case .perform(let operation):
                operation(connection)
                if let connection, !connection.isOpen {
                    tearDown(AMQPError(.connectionLost, "connection closed during an operation"))
                }
            case .cancelConsumer(let id):
                cancelConsumer(id)
            case .cancelConsumers(let continuation):
                cancelAllConsumers()
                continuation.resume()
            case .close(let reply):
                closeRequested = true
                if let reply { closeReplies.append(reply) }
            }
        }
    }

    private func cancelAllConsumers() {
        for id in registrations.keys.sorted() { cancelConsumer(id) }
    }

    /// Ends one registration: its stream finishes at once; the broker is told when connected.
    private func cancelConsumer(_ id: Int) {
        guard let registration = registrations.removeValue(forKey: id) else { return }
        logger.debug(
            "cancelling consumer", metadata: ["registration": "\(id)", "tags": "\(consumersByTag.filter { $0.value == id }.keys)"])
        registration.continuation.finish()
        for (tag, owner) in consumersByTag where owner == id {
            consumersByTag[tag] = nil
            guard let connection else { continue }
            do { try connection.cancel(consumerTag: tag) } catch {
                logger.warning("consumer cancel failed", metadata: ["error": "\(error)"])
                tearDown(error)
            }
        }
    }

    private func resubscribeDue() {
        guard let connection, !resubscribeAt.isEmpty else { return }
        let now = ContinuousClock.now
        for (id, at) in resubscribeAt where at <= now {
            resubscribeAt[id] = nil
            guard let registration = registrations[id] else { continue }
            markBusy()
            defer { markIdle() }
            do {
                let tag = try connection.consume(queue: registration.queue, prefetch: registration.prefetch)
                consumersByTag[tag] = id
                logger.info("subscribed again", metadata: ["queue": "\(registration.queue)"])
            } catch {
                // A queue that is gone closes the channel: the connection is rebuilt with its
                // backoff, and every registration subscribes again then.
                logger.warning("subscribing again failed", metadata: ["queue": "\(registration.queue)", "error": "\(error)"])
                tearDown(error)
                return
            }
        }
    }

    private func waitAndReadEvents() {
        guard let connection else {
            // Not connected: sleep until the next attempt or until a request arrives.
            let wait = max(0, min(0.25, (nextConnectAttempt - .now).seconds))
            var fds = [pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 1, Int32(wait * 1000))
            drainWake()
            return
        }
        if !connection.hasBufferedFrames {
            var fds = [
                pollfd(fd: connection.socketDescriptor, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0),
            ]
            // TLS may hold decrypted bytes poll cannot see: wake often. Plain TCP: wake to heartbeat.
            let timeout: Int32 = configuration.useTLS ? 10 : 200
            _ = poll(&fds, 2, timeout)
            if fds[1].revents != 0 { drainWake() }
            if fds[0].revents == 0, fds[1].revents != 0 { return }
        }
        markBusy()
        defer { markIdle() }
        var budget = 1000
        repeat {
            do {
                guard let event = try connection.nextEvent(timeout: 0.000_001) else { break }
                handle(event, on: connection)
            } catch {
                logger.warning("broker connection lost", metadata: ["error": "\(error)"])
                tearDown(error)
                return
            }
            budget -= 1
        } while budget > 0 && connection.hasBufferedFrames
    }

    private func handle(_ event: AMQPEvent, on connection: AMQPConnection) {
        switch event {
        case .delivery(let consumerTag, let deliveryTag, let redelivered, let exchange, let routingKey, let properties, let body):
            guard let id = consumersByTag[consumerTag], let registration = registrations[id] else {
                // A consumer we cancelled: give the message back at once.
                try? connection.reject(deliveryTag, requeue: true)
                return
            }
            let delivery = Delivery(
                queue: registration.queue, deliveryTag: deliveryTag, generation: generation, redelivered: redelivered,
                exchange: exchange, routingKey: routingKey, properties: properties, body: body)
            if case .terminated = registration.continuation.yield(delivery) {
                try? connection.reject(deliveryTag, requeue: true)
            }
        case .ack(let tag, let multiple):
            settleConfirms(upTo: tag, multiple: multiple) { pending in
                if let reason = pending.returned { throw AMQPError(.unroutable, reason) }
            }
        case .nack(let tag, let multiple):
            settleConfirms(upTo: tag, multiple: multiple) { _ in
                throw AMQPError(.nacked, "the broker refused the message (basic.nack)")
            }
        case .returned(let code, let text, let properties):
            let match = pending.filter { $0.value.mandatory && $0.value.returned == nil && $0.value.messageId == properties.messageId }
                .keys.min()
            if let match {
                pending[match]?.returned = "unroutable (\(code) \(text))"
            }
        case .consumerCancelled(let tag):
            // The queue was deleted or its leader moved: subscribe again after a pause that
            // grows, rather than ending the stream (and the worker) or retrying hot.
            guard let id = consumersByTag.removeValue(forKey: tag), registrations[id] != nil else { return }
            let delay = resubscribeDelay[id] ?? 1
            resubscribeAt[id] = .now + .milliseconds(Int(delay * 1000))
            resubscribeDelay[id] = min(delay * 2, 30)
            logger.warning("broker cancelled a consumer; subscribing again", metadata: ["consumer_tag": "\(tag)", "in_s": "\(delay)"])
        case .other:
            break
        }
    }

    private func settleConfirms(upTo tag: UInt64, multiple: Bool, outcome: (PendingConfirm) throws -> Void) {
        let tags = multiple ? pending.keys.filter { $0 <= tag } : (pending[tag] == nil ? [] : [tag])
        for key in tags {
            guard let entry = pending.removeValue(forKey: key) else { continue }
            entry.continuation?.resume(with: Result { try outcome(entry) })
        }
    }

    private func expireConfirms() {
        let now = ContinuousClock.now
        guard now - lastTimeoutScan > .milliseconds(100) else { return }
        lastTimeoutScan = now
        for (key, entry) in pending where entry.continuation != nil && entry.deadline < now {
            entry.continuation?.resume(
                throwing: AMQPError(.confirmTimeout, "no confirm within \(configuration.confirmTimeout) s"))
            pending[key]?.continuation = nil
        }
    }

    private func tearDown(_ error: Error) {
        status.withLock {
            $0.connected = false
            $0.watchedDescriptor = -1
            $0.lastError = "\(error)"
        }
        connection?.close()
        connection = nil
        consumersByTag.removeAll()
        let lost = pending
        pending.removeAll()
        for entry in lost.values {
            entry.continuation?.resume(throwing: AMQPError(.connectionLost, "connection lost before the confirm: \(error)"))
        }
        nextConnectAttempt = .now + .milliseconds(Int(reconnectDelay * 1000 * Double.random(in: 0.8...1.2)))
        reconnectDelay = min(reconnectDelay * 2, 5)
    }

    private func shutdown() {
        // Consumers cancelled (each waits for cancel-ok), then one synchronous round trip, so the
        // acks sent before the close have reached the broker when the channel closes (RabbitMQ
        // was seen to ignore acks that arrived just before a channel close).
        cancelAllConsumers()
        if let connection, connection.isOpen {
            do { try connection.roundTrip() } catch { logger.warning("round trip before close failed", metadata: ["error": "\(error)"]) }
        }
        connection?.close()
        tearDown(AMQPError(.closed, "client closed"))
        // Requests that raced the close are refused, and so is every later one.
        let late = requests.withLock { queue in
            queue.stopped = true
            defer { queue.items.removeAll() }
            return queue.items
        }
        for request in late { request.refuse() }
        status.withLock {
            $0.busySince = nil
            $0.stopped = true
        }
    }

    private func drainWake() {
        var value: UInt64 = 0
        _ = read(wakeDescriptor, &value, 8)
    }

    private func markBusy() { status.withLock { $0.busySince = .now } }
    private func markIdle() { status.withLock { $0.busySince = nil } }

    // MARK: the watchdog thread

    /// Shuts the socket down when the I/O thread is stuck in a library call past the bound,
    /// which makes that call fail and the loop reconnect.
    private func watch() {
        let heartbeat = Double(max(configuration.heartbeat, 1))
        let bound = Duration.milliseconds(Int(max(2 * heartbeat, configuration.rpcTimeout + 1) * 1000))
        while true {
            Thread.sleep(forTimeInterval: 0.25)
            let finished = status.withLock { status -> Bool in
                if status.stopped { return true }
                if let since = status.busySince, ContinuousClock.now - since > bound, status.watchedDescriptor >= 0 {
                    Glibc.shutdown(status.watchedDescriptor, Int32(SHUT_RDWR))
                    status.watchedDescriptor = -1
                }
                return false
            }
            if finished { return }
        }
    }
}

extension Duration {
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
