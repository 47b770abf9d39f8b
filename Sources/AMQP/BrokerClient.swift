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
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            loop.submit(.publish(request, continuation))
        }
    }

    /// Starts consuming `queue` with `prefetch` unacknowledged messages at most. The registration
    /// survives reconnects. The stream ends when consumers are cancelled or the client closes.
    public func consume(queue: String, prefetch: UInt16) -> AsyncStream<Delivery> {
        let (stream, continuation) = AsyncStream<Delivery>.makeStream(bufferingPolicy: .unbounded)
        loop.submit(.consume(ConsumerRegistration(queue: queue, prefetch: prefetch, continuation: continuation)))
        return stream
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
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            loop.submit(
                .perform({ connection in
                    guard let connection else {
                        continuation.resume(throwing: AMQPError(.notConnected, "no connection to the broker"))
                        return
                    }
                    continuation.resume(with: Result { try operation(connection) })
                }))
        }
    }

    public func queueStatus(_ name: String) async throws -> QueueStatus {
        try await perform { try $0.queueStatus(name) }
    }

    /// Stops all consumers (waiting for `cancel-ok`) and ends their streams. Acks for messages
    /// already delivered still go through.
    public func cancelConsumers() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.submit(.cancelConsumers(continuation))
        }
    }

    /// Sends everything queued, cancels consumers, closes the connection and ends the thread.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.submit(.close(continuation))
        }
    }
}

struct PublishRequest: Sendable {
    var exchange: String
    var routingKey: String
    var properties: MessageProperties
    var body: [UInt8]
    var mandatory: Bool
}

struct ConsumerRegistration: Sendable {
    var queue: String
    var prefetch: UInt16
    var continuation: AsyncStream<Delivery>.Continuation
}

enum Settlement: Sendable {
    case ack, nackRequeue, nackDrop, rejectRequeue, rejectDrop
}

enum LoopRequest: Sendable {
    case publish(PublishRequest, CheckedContinuation<Void, Error>)
    case consume(ConsumerRegistration)
    case settle(Settlement, UInt64, UInt64)
    case perform(@Sendable (AMQPConnection?) -> Void)
    case cancelConsumers(CheckedContinuation<Void, Never>)
    case close(CheckedContinuation<Void, Never>)
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
    let requests = Mutex<[LoopRequest]>([])
    let status = Mutex(LoopStatus())
    private let wakeDescriptor: Int32
    private let started = Mutex(false)

    // thread-confined
    private var connection: AMQPConnection?
    private var generation: UInt64 = 0
    private var pending: [UInt64: PendingConfirm] = [:]
    private var registrations: [ConsumerRegistration] = []
    private var consumersByTag: [String: Int] = [:]
    private var reconnectDelay: Double = 0.1
    private var nextConnectAttempt = ContinuousClock.now
    private var lastTimeoutScan = ContinuousClock.now
    private var closing: CheckedContinuation<Void, Never>?

    struct PendingConfirm {
        var continuation: CheckedContinuation<Void, Error>?
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

    func submit(_ request: LoopRequest) {
        requests.withLock { $0.append(request) }
        var one: UInt64 = 1
        _ = write(wakeDescriptor, &one, 8)
    }

    // MARK: the I/O thread

    private func run() {
        while true {
            if connection == nil, closing == nil, ContinuousClock.now >= nextConnectAttempt {
                connect()
            }
            processRequests()
            if let closing {
                shutdown()
                closing.resume()
                return
            }
            expireConfirms()
            waitAndReadEvents()
        }
    }

    private func connect() {
        markBusy()
        defer { markIdle() }
        do {
            let connection = try AMQPConnection(configuration: configuration)
            status.withLock { $0.watchedDescriptor = connection.socketDescriptor }
            try setup?(connection)
            try connection.enableConfirms()
            generation += 1
            self.connection = connection
            for (index, registration) in registrations.enumerated() {
                let tag = try connection.consume(queue: registration.queue, prefetch: registration.prefetch)
                consumersByTag[tag] = index
            }
            reconnectDelay = 0.1
            status.withLock {
                $0.connected = true
                $0.lastError = nil
            }
            logger.info(
                "connected to broker",
                metadata: ["amqp_host": "\(configuration.host):\(configuration.port)", "generation": "\(generation)"])
        } catch {
            logger.warning(
                "broker connect failed", metadata: ["error": "\(error)", "retry_in_s": "\(reconnectDelay)"])
            status.withLock { $0.lastError = "\(error)" }
            tearDown(AMQPError(.connectionLost, "\(error)"))
        }
    }

    private func processRequests() {
        let batch = requests.withLock { requests in
            defer { requests.removeAll(keepingCapacity: true) }
            return requests
        }
        guard !batch.isEmpty else { return }
        markBusy()
        defer { markIdle() }
        for request in batch {
            switch request {
            case .publish(let publish, let continuation):
                guard let connection, closing == nil else {
                    continuation.resume(throwing: AMQPError(closing == nil ? .notConnected : .closed, "no connection to the broker"))
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
                registrations.append(registration)
                if let connection {
                    do {
                        let tag = try connection.consume(queue: registration.queue, prefetch: registration.prefetch)
                        consumersByTag[tag] = registrations.count - 1
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
            case .cancelConsumers(let continuation):
                cancelAllConsumers()
                continuation.resume()
            case .close(let continuation):
                closing = continuation
            }
        }
    }

    private func cancelAllConsumers() {
        if let connection {
            for tag in consumersByTag.keys {
                do { try connection.cancel(consumerTag: tag) } catch {
                    logger.warning("consumer cancel failed", metadata: ["error": "\(error)"])
                    tearDown(error)
                    break
                }
            }
        }
        for registration in registrations { registration.continuation.finish() }
        registrations.removeAll()
        consumersByTag.removeAll()
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
            guard let index = consumersByTag[consumerTag] else {
                // A consumer we cancelled: give the message back at once.
                try? connection.reject(deliveryTag, requeue: true)
                return
            }
            let registration = registrations[index]
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
            logger.warning("broker cancelled a consumer", metadata: ["consumer_tag": "\(tag)"])
            if let index = consumersByTag.removeValue(forKey: tag) {
                registrations[index].continuation.finish()
            }
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
        cancelAllConsumers()
        connection?.close()
        tearDown(AMQPError(.closed, "client closed"))
        // Publishes that raced the close.
        for request in requests.withLock({ r in
            defer { r.removeAll() }; return r
        }) {
            switch request {
            case .publish(_, let continuation): continuation.resume(throwing: AMQPError(.closed, "client closed"))
            case .perform(let operation): operation(nil)
            case .cancelConsumers(let continuation), .close(let continuation): continuation.resume()
            case .consume(let registration): registration.continuation.finish()
            case .settle: break
            }
        }
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
