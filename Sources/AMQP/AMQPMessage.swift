import Foundation

/// A value in a message's `headers` table. Only the kinds Armada writes are modelled; other
/// kinds a broker or foreign publisher adds are read as `.other` and survive nowhere.
public enum HeaderValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case other

    public var stringValue: String? {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return String(b)
        case .other: return nil
        }
    }

    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .string(let s): return Int64(s)
        default: return nil
        }
    }

    public var description: String { stringValue ?? "<unsupported>" }
}

/// The AMQP basic properties Armada uses.
public struct MessageProperties: Sendable, Equatable {
    public var messageId: String?
    public var correlationId: String?
    public var type: String?
    public var contentType: String?
    /// Persistent (delivery mode 2) survives a broker restart on a durable queue.
    public var persistent: Bool
    /// Unix seconds.
    public var timestamp: UInt64?
    public var headers: [String: HeaderValue]

    public init(
        messageId: String? = nil, correlationId: String? = nil, type: String? = nil,
        contentType: String? = "application/json", persistent: Bool = true, timestamp: UInt64? = nil,
        headers: [String: HeaderValue] = [:]
    ) {
        self.messageId = messageId
        self.correlationId = correlationId
        self.type = type
        self.contentType = contentType
        self.persistent = persistent
        self.timestamp = timestamp
        self.headers = headers
    }
}

/// A message handed to a consumer. Ack, nack or reject it through the `BrokerClient` that delivered it.
public struct Delivery: Sendable {
    public var queue: String
    public var deliveryTag: UInt64
    /// Which connection delivered it: an ack for an older connection is void (the broker redelivers).
    public var generation: UInt64
    public var redelivered: Bool
    public var exchange: String
    public var routingKey: String
    public var properties: MessageProperties
    public var body: [UInt8]
}

/// Depth and consumer count of a queue, read by a passive declare.
public struct QueueStatus: Sendable, Equatable {
    public var name: String
    public var messages: UInt32
    public var consumers: UInt32

    public init(name: String, messages: UInt32, consumers: UInt32) {
        self.name = name
        self.messages = messages
        self.consumers = consumers
    }
}
