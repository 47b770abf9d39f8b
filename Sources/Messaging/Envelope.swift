import Foundation

/// The two exchanges every message goes through.
public enum Exchange {
    /// Commands: exactly one queue does the work.
    public static let commands = "armada.commands"
    /// Events: facts that happened, for whoever subscribes.
    public static let events = "armada.events"
}

/// The body of one kind of message. Its `messageType` is also its routing key.
public protocol MessageBody: Codable, Sendable {
    static var messageType: String { get }
    static var exchange: String { get }
    /// Bumped when the body changes incompatibly; consumers see the version in the envelope.
    static var version: Int { get }
}

extension MessageBody {
    public static var version: Int { 1 }
}

/// What travels on the wire: a versioned JSON envelope around a typed body.
public struct Envelope<Body: MessageBody>: Codable, Sendable {
    /// Stable across retries: the inbox deduplicates on it.
    public var id: UUID
    public var type: String
    public var version: Int
    public var occurredAt: Date
    /// Ties messages of one business flow together in logs (a deposit's reference, an order id).
    public var correlationId: String?
    /// The API command this message carries out, if any: the runtime records its outcome in
    /// `commands`, which `GET /commands/{id}` reads.
    public var commandId: UUID?
    public var data: Body

    public init(id: UUID, data: Body, occurredAt: Date, correlationId: String? = nil, commandId: UUID? = nil) {
        self.id = id
        self.type = Body.messageType
        self.version = Body.version
        self.occurredAt = occurredAt
        self.correlationId = correlationId
        self.commandId = commandId
        self.data = data
    }

    public func encoded() throws -> [UInt8] {
        Array(try MessageCoding.encoder().encode(self))
    }
}

/// The envelope's routing fields, read before the body's type is known.
public struct EnvelopeHeader: Decodable, Sendable {
    public var id: UUID
    public var type: String
    public var version: Int
    public var occurredAt: Date
    public var correlationId: String?
    public var commandId: UUID?

    public init(id: UUID, type: String, version: Int, occurredAt: Date, correlationId: String?, commandId: UUID? = nil) {
        self.id = id
        self.type = type
        self.version = version
        self.occurredAt = occurredAt
        self.correlationId = correlationId
        self.commandId = commandId
    }
}

extension Envelope {
    public var header: EnvelopeHeader {
        EnvelopeHeader(id: id, type: type, version: version, occurredAt: occurredAt, correlationId: correlationId, commandId: commandId)
    }
}

/// JSON settings shared by every message: ISO-8601 dates, sorted keys (stable bytes).
public enum MessageCoding {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
