import Foundation
import Logging
import Postgres

/// Handles one message type. `handle` runs inside the consumer's transaction, after the inbox
/// row for the message was claimed: everything it writes through `context.connection`, and
/// every message it sends through `context`, commits together with the inbox row or not at all.
/// It returns its outcome (`HandlerOutcome`) and throws only for what it cannot decide (a lost
/// connection, a bug), which the runtime classifies.
///
/// It must not call outside services, nor read the clock: `context.now` is the message's time.
public protocol MessageHandler: Sendable {
    associatedtype Body: MessageBody
    func handle(_ message: Envelope<Body>, context: inout HandlerContext) throws -> HandlerOutcome
}

/// A handler that must call an outside service (Tripay, DigitalOcean) before its atomic phase.
///
/// `prepare` runs outside any transaction, only when the message has not taken effect yet, and
/// may run again for the same message (after a crash, or a transient failure later on): it must
/// be idempotent at the boundary (Tripay's merchant_ref from the deposit id, a droplet tag).
public protocol PreparingMessageHandler: Sendable {
    associatedtype Body: MessageBody
    associatedtype Prepared: Sendable
    func prepare(_ message: Envelope<Body>, context: PrepareContext) async throws -> Preparation<Prepared>
    func handle(_ message: Envelope<Body>, prepared: Prepared, context: inout HandlerContext) throws -> HandlerOutcome
}

/// The times a run knows. Handlers decide with these and never read the clock.
public struct MessageTime: Sendable, Equatable {
    /// The message's logical time: when its fact happened or its command was accepted
    /// (`occurredAt`); a lifecycle tick's `now`.
    public var now: Date
    /// When the runtime began this run: what a handler that waits (`again`) compares its
    /// deadline with.
    public var runAt: Date

    public init(now: Date, runAt: Date) {
        self.now = now
        self.runAt = runAt
    }
}

/// What a `prepare` step may use: the pool for reads, a logger, the times.
public struct PrepareContext: Sendable {
    public let pool: PostgresPool
    public let logger: Logger
    public let time: MessageTime
    /// Failed runs before this one (0 on the first delivery).
    public let attempt: Int

    public var now: Date { time.now }
}

/// What a handler may use during its atomic phase.
public struct HandlerContext {
    public let connection: PGConnection
    public let logger: Logger
    public let time: MessageTime
    /// Failed runs before this one (0 on the first delivery).
    public let attempt: Int
    public let correlationId: String?
    /// Messages sent so far, written to the outbox when the run takes effect.
    var outgoing: [Outbox.Pending] = []
    var sent: Int { outgoing.count }
    var keptOnRejection: [(PGConnection) throws -> Void] = []

    public var now: Date { time.now }

    init(connection: PGConnection, logger: Logger, time: MessageTime, attempt: Int, correlationId: String?) {
        self.connection = connection
        self.logger = logger
        self.time = time
        self.attempt = attempt
        self.correlationId = correlationId
    }

    /// A write that stands even when this run ends `.rejected` (which rolls back everything
    /// else): a flag for an operator on a refused deposit, say. It runs after the rollback, in the
    /// same transaction as the recorded refusal; on `.done` it runs too, at the end.
    public mutating func keepEvenIfRejected(_ write: @escaping (PGConnection) throws -> Void) {
        keptOnRejection.append(write)
    }

    /// Sends a follow-up message once this transaction commits (through the outbox). Its
    /// `occurredAt` is this message's time; its id must be derived from the business fact.
    public mutating func send<Body: MessageBody>(_ body: Body, id: UUID, correlationId: String? = nil) throws {
        outgoing.append(
            try Outbox.Pending(Envelope(id: id, data: body, occurredAt: now, correlationId: correlationId ?? self.correlationId)))
    }
}

/// A handler with its body type erased, so a consumer can route by type name.
public struct AnyMessageHandler: Sendable {
    public let messageType: String
    public let bodyType: any MessageBody.Type
    /// The handler's type name (the catalogue test finds its file by it).
    public let handlerName: String
    /// Calls out before the phase; nil for plain handlers. Returns what `run` receives, or the
    /// outcome that ends the run.
    let prepare: (@Sendable ([UInt8], PrepareContext) async throws -> Preparation<any Sendable>)?
    let run: @Sendable ([UInt8], (any Sendable)?, inout HandlerContext) throws -> HandlerOutcome

    public init<Handler: MessageHandler>(_ handler: Handler) {
        messageType = Handler.Body.messageType
        bodyType = Handler.Body.self
        handlerName = String(describing: Handler.self)
        prepare = nil
        run = { bytes, _, context in
            try handler.handle(try Self.decode(bytes, as: Handler.Body.self), context: &context)
        }
    }

    public init<Handler: PreparingMessageHandler>(_ handler: Handler) {
        messageType = Handler.Body.messageType
        bodyType = Handler.Body.self
        handlerName = String(describing: Handler.self)
        prepare = { bytes, context in
            switch try await handler.prepare(try Self.decode(bytes, as: Handler.Body.self), context: context) {
            case .ready(let value): return .ready(value)
            case .finished(let outcome): return .finished(outcome)
            }
        }
        run = { bytes, prepared, context in
            guard let prepared = prepared as? Handler.Prepared else {
                throw UndecodableMessage(reason: "no preparation for \(Handler.Body.messageType)")
            }
            return try handler.handle(try Self.decode(bytes, as: Handler.Body.self), prepared: prepared, context: &context)
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
