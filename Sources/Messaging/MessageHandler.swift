import Foundation
import Logging
import Postgres

/// Handles one message type. `handle` runs inside the consumer's transaction, after the inbox
/// row for the message was claimed: everything it writes through `context.connection`, and
/// every message it sends through `context`, commits together with the inbox row or not at all.
///
/// It must not call outside services: that is what `PreparingMessageHandler.prepare` is for.
public protocol MessageHandler: Sendable {
    associatedtype Body: MessageBody
    func handle(_ message: Envelope<Body>, context: inout HandlerContext) throws
}

/// A handler that must call an outside service (Tripay, DigitalOcean) before its atomic phase.
///
/// `prepare` runs outside any transaction, only when the message has not taken effect yet, and
/// may run again for the same message (after a crash, or a transient failure later on): it must
/// be idempotent at the boundary (Tripay's merchant_ref from the deposit id, a droplet tag).
public protocol PreparingMessageHandler: Sendable {
    associatedtype Body: MessageBody
    associatedtype Preparation: Sendable
    func prepare(_ message: Envelope<Body>, pool: PostgresPool, logger: Logger) async throws -> Preparation
    func handle(_ message: Envelope<Body>, prepared: Preparation, context: inout HandlerContext) throws
}

/// What a handler may use during its atomic phase.
public struct HandlerContext {
    public let connection: PGConnection
    public let logger: Logger
    /// Failed runs before this one (0 on the first delivery).
    public let attempt: Int
    var sent = 0
    var commandResult: String?

    init(connection: PGConnection, logger: Logger, attempt: Int) {
        self.connection = connection
        self.logger = logger
        self.attempt = attempt
    }

    /// Sends a follow-up message once this transaction commits (through the outbox).
    public mutating func send<Body: MessageBody>(_ envelope: Envelope<Body>) throws {
        try Outbox.enqueue(envelope, on: connection)
        sent += 1
    }

    /// The result `GET /commands/{id}` shows once the command succeeded.
    public mutating func complete(with result: some Encodable) throws {
        commandResult = String(decoding: try MessageCoding.encoder().encode(result), as: UTF8.self)
    }
}

/// A handler with its body type erased, so a consumer can route by type name.
public struct AnyMessageHandler: Sendable {
    public let messageType: String
    /// Calls out before the phase; nil for plain handlers. Returns what `run` receives.
    let prepare: (@Sendable ([UInt8], PostgresPool, Logger) async throws -> any Sendable)?
    let run: @Sendable ([UInt8], (any Sendable)?, inout HandlerContext) throws -> Void

    public init<Handler: MessageHandler>(_ handler: Handler) {
        messageType = Handler.Body.messageType
        prepare = nil
        run = { bytes, _, context in
            try handler.handle(try Self.decode(bytes, as: Handler.Body.self), context: &context)
        }
    }

    public init<Handler: PreparingMessageHandler>(_ handler: Handler) {
        messageType = Handler.Body.messageType
        prepare = { bytes, pool, logger in
            try await handler.prepare(try Self.decode(bytes, as: Handler.Body.self), pool: pool, logger: logger)
        }
        run = { bytes, prepared, context in
            guard let prepared = prepared as? Handler.Preparation else {
                throw UndecodableMessage(reason: "no preparation for \(Handler.Body.messageType)")
            }
            try handler.handle(try Self.decode(bytes, as: Handler.Body.self), prepared: prepared, context: &context)
        }
    }

    static func decode<Body: MessageBody>(_ bytes: [UInt8], as type: Body.Type) throws -> Envelope<Body> {
        do {
            return try MessageCoding.decoder().decode(Envelope<Body>.self, from: Data(bytes))
        } catch {
            throw UndecodableMessage(reason: "body of \(Body.messageType) does not decode: \(error)")
        }
    }
}
