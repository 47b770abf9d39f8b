import Foundation
import Logging
import Postgres

/// Handles one message type. `handle` runs inside the consumer's transaction, after the inbox
/// row for the message was claimed: everything it writes through `context.connection`, and
/// every message it sends through `context`, commits together with the inbox row or not at all.
///
/// It must not call outside services: that work belongs before or after the atomic phase.
public protocol MessageHandler: Sendable {
    associatedtype Body: MessageBody
    func handle(_ message: Envelope<Body>, context: inout HandlerContext) throws
}

/// What a handler may use during its atomic phase.
public struct HandlerContext {
    public let connection: PGConnection
    public let logger: Logger
    /// Failed runs before this one (0 on the first delivery).
    public let attempt: Int
    var sent = 0

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
}

/// A handler with its body type erased, so a consumer can route by type name.
public struct AnyMessageHandler: Sendable {
    public let messageType: String
    let run: @Sendable ([UInt8], inout HandlerContext) throws -> Void

    public init<Handler: MessageHandler>(_ handler: Handler) {
        messageType = Handler.Body.messageType
        run = { bytes, context in
            let envelope: Envelope<Handler.Body>
            do {
                envelope = try MessageCoding.decoder().decode(Envelope<Handler.Body>.self, from: Data(bytes))
            } catch {
                throw UndecodableMessage(reason: "body of \(Handler.Body.messageType) does not decode: \(error)")
            }
            try handler.handle(envelope, context: &context)
        }
    }
}
