import CRabbitMQ
import Glibc

/// The kind of queue to declare.
public enum QueueType: String, Sendable, Codable {
    /// Replicated, durable, with a delivery limit: every queue of Armada's topology.
    case quorum
    /// Single-node durable queues (tests and tools).
    case classic
}

/// What `AMQPConnection.nextEvent` read from the broker.
public enum AMQPEvent {
    case delivery(
        consumerTag: String, deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String,
        properties: MessageProperties, body: [UInt8])
    case ack(deliveryTag: UInt64, multiple: Bool)
    case nack(deliveryTag: UInt64, multiple: Bool)
    /// A mandatory message that no queue took; its confirm follows.
    case returned(replyCode: UInt16, replyText: String, properties: MessageProperties)
    /// The broker cancelled a consumer (its queue was deleted).
    case consumerCancelled(consumerTag: String)
    /// Anything else (a heartbeat, a frame for another channel).
    case other
}

/// One rabbitmq-c connection with one channel (1) for work and a scratch channel (2) for
/// passive declares, whose 404 closes the channel it runs on.
///
/// Not thread-safe and deliberately not `Sendable`: rabbitmq-c forbids sharing a connection
/// between threads. `BrokerClient` confines each instance to its I/O thread.
public final class AMQPConnection {
    public let configuration: AMQPConfiguration
    private let state: amqp_connection_state_t
    private let workChannel: amqp_channel_t = 1
    private let scratchChannel: amqp_channel_t = 2
    private var nextPublishSequence: UInt64 = 1
    private var confirmsEnabled = false
    public private(set) var isOpen = false
    /// The socket's file descriptor, for polling and for the watchdog's `shutdown`.
    public private(set) var socketDescriptor: Int32 = -1

    public init(configuration: AMQPConfiguration) throws {
        guard let state = amqp_new_connection() else {
            throw AMQPError(.library(status: 0), "amqp_new_connection failed")
        }
        self.configuration = configuration
        self.state = state
        try open()
    }

    deinit {
        amqp_destroy_connection(state)
    }

    private func open() throws {
        let arena = CArena()
        let socket: OpaquePointer?
        if configuration.useTLS {
            socket = amqp_ssl_socket_new(state)
            guard let socket else { throw AMQPError(.configuration, "cannot create a TLS socket") }
            amqp_ssl_socket_set_verify_peer(socket, 1)
            amqp_ssl_socket_set_verify_hostname(socket, 1)
            let status = amqp_ssl_socket_set_cacert(socket, arena.cString(configuration.caCertificatePath))
            guard status == AMQP_STATUS_OK.rawValue else {
                throw AMQPError(.configuration, "cannot load CA bundle \(configuration.caCertificatePath): \(Self.describe(status))")
            }
        } else {
            socket = amqp_tcp_socket_new(state)
        }
        guard let socket else { throw AMQPError(.library(status: 0), "cannot create a socket") }

        var connectTimeout = timeval(seconds: configuration.connectTimeout)
        let status = amqp_socket_open_noblock(socket, arena.cString(configuration.host), Int32(configuration.port), &connectTimeout)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "cannot connect to \(configuration.host):\(configuration.port): \(Self.describe(status))")
        }
        socketDescriptor = amqp_get_sockfd(state)

        let login = armada_amqp_login_plain_notify(
            state, arena.cString(configuration.virtualHost), 0, 131072, Int32(configuration.heartbeat),
            arena.cString(configuration.connectionName), arena.cString(configuration.user), arena.cString(configuration.password))
        if login.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION, login.library_error == AMQP_STATUS_CONNECTION_CLOSED.rawValue {
            throw AMQPError(.configuration, "login refused for user '\(configuration.user)' on vhost '\(configuration.virtualHost)'")
        }
        try check(login, "login")
        isOpen = true

        var rpcTimeout = timeval(seconds: configuration.rpcTimeout)
        amqp_set_rpc_timeout(state, &rpcTimeout)

        amqp_channel_open(state, workChannel)
        try check(amqp_get_rpc_reply(state), "channel.open")
    }

    // MARK: declarations

    public func declareExchange(_ name: String, type: String, durable: Bool = true) throws {
        let arena = CArena()
        amqp_exchange_declare(
            state, workChannel, arena.bytes(name), arena.bytes(type), 0, durable ? 1 : 0, 0, 0,
            amqp_table_t(num_entries: 0, entries: nil))
        try check(amqp_get_rpc_reply(state), "exchange.declare \(name)")
    }

    /// Declares a durable queue; the broker refuses (406) a re-declare with other arguments.
    public func declareQueue(_ name: String, type: QueueType, arguments: [String: HeaderValue] = [:]) throws {
        let arena = CArena()
        var all = arguments
        all["x-queue-type"] = .string(type.rawValue)
        amqp_queue_declare(state, workChannel, arena.bytes(name), 0, 1, 0, 0, arena.table(all))
        try check(amqp_get_rpc_reply(state), "queue.declare \(name)")
    }

    /// Whether declaring `name` with these arguments would be accepted: true when the queue does
    /// not exist (it is then declared) or exists with the same arguments; false when the broker
    /// refuses the arguments (406 PRECONDITION_FAILED). Runs on the scratch channel, so a refusal
    /// leaves the work channel open.
    public func declareQueueIfCompatible(_ name: String, type: QueueType, arguments: [String: HeaderValue] = [:]) throws -> Bool {
        let arena = CArena()
        var all = arguments
        all["x-queue-type"] = .string(type.rawValue)
        amqp_channel_open(state, scratchChannel)
        try check(amqp_get_rpc_reply(state), "channel.open", channel: scratchChannel)
        amqp_queue_declare(state, scratchChannel, arena.bytes(name), 0, 1, 0, 0, arena.table(all))
        do {
            try check(amqp_get_rpc_reply(state), "queue.declare \(name)", channel: scratchChannel)
        } catch let error as AMQPError where error.kind == .closedByBroker(code: 406) {
            return false
        }
        amqp_channel_close(state, scratchChannel, AMQP_REPLY_SUCCESS)
        return true
    }

    /// A synchronous round trip on the work channel (a passive declare of `amq.direct`): when it
    /// returns, the broker has read everything sent before it, acks included.
    public func roundTrip() throws {
        let arena = CArena()
        amqp_exchange_declare(
            state, workChannel, arena.bytes("amq.direct"), arena.bytes("direct"), 1, 0, 0, 0, amqp_table_t(num_entries: 0, entries: nil))
        try check(amqp_get_rpc_reply(state), "exchange.declare passive amq.direct")
    }

    public func bindQueue(_ queue: String, exchange: String, routingKey: String) throws {
        let arena = CArena()
        amqp_queue_bind(
            state, workChannel, arena.bytes(queue), arena.bytes(exchange), arena.bytes(routingKey),
            amqp_table_t(num_entries: 0, entries: nil))
        try check(amqp_get_rpc_reply(state), "queue.bind \(queue) \(exchange) \(routingKey)")
    }

    /// Messages ready and consumers of a queue; `.notFound` if it does not exist.
    public func queueStatus(_ name: String) throws -> QueueStatus {
        let arena = CArena()
        amqp_channel_open(state, scratchChannel)
        try check(amqp_get_rpc_reply(state), "channel.open", channel: scratchChannel)
        let ok = amqp_queue_declare(state, scratchChannel, arena.bytes(name), 1, 0, 0, 0, amqp_table_t(num_entries: 0, entries: nil))
        try check(amqp_get_rpc_reply(state), "queue.declare passive \(name)", channel: scratchChannel)
        let status = QueueStatus(name: name, messages: ok?.pointee.message_count ?? 0, consumers: ok?.pointee.consumer_count ?? 0)
        amqp_channel_close(state, scratchChannel, AMQP_REPLY_SUCCESS)
        return status
    }

    @discardableResult
    public func purgeQueue(_ name: String) throws -> UInt32 {
        let arena = CArena()
        let ok = amqp_queue_purge(state, workChannel, arena.bytes(name))
        try check(amqp_get_rpc_reply(state), "queue.purge \(name)")
        return ok?.pointee.message_count ?? 0
    }

    public func unbindQueue(_ queue: String, exchange: String, routingKey: String) throws {
        let arena = CArena()
        amqp_queue_unbind(
            state, workChannel, arena.bytes(queue), arena.bytes(exchange), arena.bytes(routingKey),
            amqp_table_t(num_entries: 0, entries: nil))
        try check(amqp_get_rpc_reply(state), "queue.unbind \(queue) \(exchange) \(routingKey)")
    }

    public func deleteQueue(_ name: String) throws {
        let arena = CArena()
        amqp_queue_delete(state, workChannel, arena.bytes(name), 0, 0)
        try check(amqp_get_rpc_reply(state), "queue.delete \(name)")
    }

    // MARK: publishing

    /// Puts the channel in confirm mode; from now on every publish has a sequence number from 1.
    public func enableConfirms() throws {
        amqp_confirm_select(state, workChannel)
        try check(amqp_get_rpc_reply(state), "confirm.select")
        confirmsEnabled = true
        nextPublishSequence = 1
    }

    /// Sends one message; returns its confirm sequence number (0 without confirms).
    @discardableResult
    public func publish(
        exchange: String, routingKey: String, mandatory: Bool, properties: MessageProperties, body: [UInt8]
    ) throws -> UInt64 {
        let arena = CArena()
        var props = amqp_basic_properties_t()
        var flags: UInt32 = 0
        if let contentType = properties.contentType {
            props.content_type = arena.bytes(contentType)
            flags |= UInt32(AMQP_BASIC_CONTENT_TYPE_FLAG)
        }
        props.delivery_mode = properties.persistent ? 2 : 1
        flags |= UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
        if let messageId = properties.messageId {
            props.message_id = arena.bytes(messageId)
            flags |= UInt32(AMQP_BASIC_MESSAGE_ID_FLAG)
        }
        if let correlationId = properties.correlationId {
            props.correlation_id = arena.bytes(correlationId)
            flags |= UInt32(AMQP_BASIC_CORRELATION_ID_FLAG)
        }
        if let type = properties.type {
            props.type = arena.bytes(type)
            flags |= UInt32(AMQP_BASIC_TYPE_FLAG)
        }
        if let timestamp = properties.timestamp {
            props.timestamp = timestamp
            flags |= UInt32(AMQP_BASIC_TIMESTAMP_FLAG)
        }
        if !properties.headers.isEmpty {
            props.headers = arena.table(properties.headers)
            flags |= UInt32(AMQP_BASIC_HEADERS_FLAG)
        }
        props._flags = flags
        var payload = body
        let status = amqp_basic_publish(
            state, workChannel, arena.bytes(exchange), arena.bytes(routingKey), mandatory ? 1 : 0, 0, &props,
            arena.bytes(&payload))
        guard status == AMQP_STATUS_OK.rawValue else {
            isOpen = false
            throw AMQPError(.connectionLost, "publish failed: \(Self.describe(status))")
        }
        guard confirmsEnabled else { return 0 }
        defer { nextPublishSequence += 1 }
        return nextPublishSequence
    }

    // MARK: consuming

    /// Starts a consumer with its own prefetch; returns the consumer tag.
    public func consume(queue: String, prefetch: UInt16) throws -> String {
        let arena = CArena()
        amqp_basic_qos(state, workChannel, 0, prefetch, 0)
        try check(amqp_get_rpc_reply(state), "basic.qos")
        let ok = amqp_basic_consume(
            state, workChannel, arena.bytes(queue), amqp_bytes_t(len: 0, bytes: nil), 0, 0, 0,
            amqp_table_t(num_entries: 0, entries: nil))
        try check(amqp_get_rpc_reply(state), "basic.consume \(queue)")
        guard let ok else { throw AMQPError(.library(status: 0), "basic.consume \(queue): no consumer tag") }
        return String(amqpBytes: ok.pointee.consumer_tag)
    }

    /// Cancels a consumer and waits for `cancel-ok`; deliveries that arrive meanwhile are queued
    /// by the library and come out of `nextEvent` afterwards.
    public func cancel(consumerTag: String) throws {
        let arena = CArena()
        amqp_basic_cancel(state, workChannel, arena.bytes(consumerTag))
        try check(amqp_get_rpc_reply(state), "basic.cancel")
    }

    public func ack(_ deliveryTag: UInt64) throws {
        try checkStatus(amqp_basic_ack(state, workChannel, deliveryTag, 0), "basic.ack")
    }

    public func nack(_ deliveryTag: UInt64, requeue: Bool) throws {
        try checkStatus(amqp_basic_nack(state, workChannel, deliveryTag, 0, requeue ? 1 : 0), "basic.nack")
    }

    public func reject(_ deliveryTag: UInt64, requeue: Bool) throws {
        try checkStatus(amqp_basic_reject(state, workChannel, deliveryTag, requeue ? 1 : 0), "basic.reject")
    }

    /// Fetches one message without a consumer (`basic.get`), or nil when the queue is empty.
    /// Used by operator tools on dead-letter queues.
    public func get(queue: String) throws -> (deliveryTag: UInt64, properties: MessageProperties, body: [UInt8], routingKey: String)? {
        let arena = CArena()
        let reply = amqp_basic_get(state, workChannel, arena.bytes(queue), 0)
        try check(reply, "basic.get \(queue)")
        guard reply.reply.id == armada_method_basic_get_ok, let decoded = reply.reply.decoded else { return nil }
        let ok = decoded.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
        let tag = ok.delivery_tag
        let routingKey = String(amqpBytes: ok.routing_key)
        let (properties, body) = try readContent(channel: workChannel)
        return (tag, properties, body, routingKey)
    }

    // MARK: events

    /// True when a frame is already read or buffered, so `poll` on the socket would miss it.
    public var hasBufferedFrames: Bool {
        amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0
    }

    /// Reads the next frame, waiting at most `timeout` seconds; nil when none came.
    ///
    /// Always pass a positive timeout: rabbitmq-c sends and checks heartbeats only when the
    /// deadline it computes is not "immediate". Throws when the connection or channel is gone.
    public func nextEvent(timeout: Double) throws -> AMQPEvent? {
        defer { amqp_maybe_release_buffers(state) }
        var frame = amqp_frame_t()
        var wait = timeval(seconds: max(timeout, 0.000_001))
        let status = amqp_simple_wait_frame_noblock(state, &frame, &wait)
        if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
        guard status == AMQP_STATUS_OK.rawValue else {
            isOpen = false
            throw AMQPError(.connectionLost, Self.describe(status))
        }
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { return .other }
        let method = frame.payload.method
        guard let decoded = method.decoded else { return .other }
        switch method.id {
        case armada_method_basic_deliver:
            let deliver = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            let consumerTag = String(amqpBytes: deliver.consumer_tag)
            let exchange = String(amqpBytes: deliver.exchange)
            let routingKey = String(amqpBytes: deliver.routing_key)
            let (properties, body) = try readContent(channel: frame.channel)
            return .delivery(
                consumerTag: consumerTag, deliveryTag: deliver.delivery_tag, redelivered: deliver.redelivered != 0,
                exchange: exchange, routingKey: routingKey, properties: properties, body: body)
        case armada_method_basic_ack:
            let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            return .ack(deliveryTag: ack.delivery_tag, multiple: ack.multiple != 0)
        case armada_method_basic_nack:
            let nack = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            return .nack(deliveryTag: nack.delivery_tag, multiple: nack.multiple != 0)
        case armada_method_basic_return:
            let returned = decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let text = String(amqpBytes: returned.reply_text)
            let (properties, _) = try readContent(channel: frame.channel)
            return .returned(replyCode: returned.reply_code, replyText: text, properties: properties)
        case armada_method_basic_cancel:
            let cancel = decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            return .consumerCancelled(consumerTag: String(amqpBytes: cancel.consumer_tag))
        case armada_method_channel_close:
            let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let text = String(amqpBytes: close.reply_text)
            var ok = amqp_channel_close_ok_t()
            amqp_send_method(state, frame.channel, armada_method_channel_close_ok, &ok)
            if frame.channel == scratchChannel { return .other }
            throw AMQPError(.closedByBroker(code: close.reply_code), "channel closed by broker: \(text)")
        case armada_method_connection_close:
            let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let text = String(amqpBytes: close.reply_text)
            var ok = amqp_connection_close_ok_t()
            amqp_send_method(state, 0, armada_method_connection_close_ok, &ok)
            isOpen = false
            throw AMQPError(.closedByBroker(code: close.reply_code), "connection closed by broker: \(text)")
        default:
            return .other
        }
    }

    /// Closes channel and connection politely; errors are irrelevant at this point.
    public func close() {
        guard isOpen else { return }
        isOpen = false
        _ = amqp_channel_close(state, workChannel, AMQP_REPLY_SUCCESS)
        _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
    }

    // MARK: helpers

    private func readContent(channel: amqp_channel_t) throws -> (MessageProperties, [UInt8]) {
        var message = amqp_message_t()
        let reply = amqp_read_message(state, channel, &message, 0)
        try check(reply, "read message")
        defer { amqp_destroy_message(&message) }
        return (MessageProperties(amqp: message.properties), [UInt8](amqpBytes: message.body))
    }

    private func checkStatus(_ status: Int32, _ context: String) throws {
        guard status == AMQP_STATUS_OK.rawValue else {
            isOpen = false
            throw AMQPError(.connectionLost, "\(context): \(Self.describe(status))")
        }
    }

    private func check(_ reply: amqp_rpc_reply_t, _ context: String, channel: amqp_channel_t? = nil) throws {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            isOpen = false
            throw AMQPError(.connectionLost, "\(context): \(Self.describe(reply.library_error))")
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == armada_method_connection_close, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                var ok = amqp_connection_close_ok_t()
                amqp_send_method(state, 0, armada_method_connection_close_ok, &ok)
                isOpen = false
                let kind: AMQPError.Kind = close.reply_code == 403 ? .configuration : .closedByBroker(code: close.reply_code)
                throw AMQPError(kind, "\(context): connection closed by broker: \(String(amqpBytes: close.reply_text))")
            }
            if reply.reply.id == armada_method_channel_close, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                var ok = amqp_channel_close_ok_t()
                let closed = channel ?? workChannel
                amqp_send_method(state, closed, armada_method_channel_close_ok, &ok)
                // Losing the work channel leaves the connection useless to us: make the owner reconnect.
                if closed == workChannel { isOpen = false }
                let kind: AMQPError.Kind = close.reply_code == 404 ? .notFound : .closedByBroker(code: close.reply_code)
                throw AMQPError(kind, "\(context): \(String(amqpBytes: close.reply_text))")
            }
            isOpen = false
            throw AMQPError(.library(status: 0), "\(context): unexpected server method \(reply.reply.id)")
        default:
            isOpen = false
            throw AMQPError(.library(status: 0), "\(context): no reply")
        }
    }

    static func describe(_ status: Int32) -> String {
        String(cString: amqp_error_string2(status))
    }
}

extension MessageProperties {
    init(amqp props: amqp_basic_properties_t) {
        let flags = props._flags
        func has(_ flag: Int32) -> Bool { flags & UInt32(flag) != 0 }
        self.init(
            messageId: has(AMQP_BASIC_MESSAGE_ID_FLAG) ? String(amqpBytes: props.message_id) : nil,
            correlationId: has(AMQP_BASIC_CORRELATION_ID_FLAG) ? String(amqpBytes: props.correlation_id) : nil,
            type: has(AMQP_BASIC_TYPE_FLAG) ? String(amqpBytes: props.type) : nil,
            contentType: has(AMQP_BASIC_CONTENT_TYPE_FLAG) ? String(amqpBytes: props.content_type) : nil,
            persistent: has(AMQP_BASIC_DELIVERY_MODE_FLAG) && props.delivery_mode == 2,
            timestamp: has(AMQP_BASIC_TIMESTAMP_FLAG) ? props.timestamp : nil,
            headers: has(AMQP_BASIC_HEADERS_FLAG) ? [String: HeaderValue](amqpTable: props.headers) : [:])
    }
}

extension timeval {
    init(seconds: Double) {
        let whole = Int(seconds)
        self.init(tv_sec: whole, tv_usec: Int((seconds - Double(whole)) * 1_000_000))
    }
}
