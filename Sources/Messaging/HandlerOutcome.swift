import Foundation

/// What a handler's run came to. The runtime acts on it; nothing is left to a side effect.
///
/// - `done`: the effects commit with the inbox row; an API command records `result`.
/// - `rejected`: a business rule refuses the message. The handler's writes are rolled back, and
///   the refusal is recorded in the same transaction as the inbox row (and as the command's
///   failure), so a redelivery is a no-op.
/// - `again`: not yet (a droplet still booting, a rate limit resetting). Nothing commits, the
///   inbox row is not claimed, and the message runs again after about `after` (the longest
///   delay tier not longer, so possibly sooner: the handler checks again what it waits for)
///   without spending one of its retries; the runtime dead-letters it if asked again past
///   `deadline`.
public struct HandlerOutcome: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case done(result: String?)
        case rejected(ErrorCode, message: String)
        case again(after: Duration, deadline: Date, reason: String)
    }

    public let kind: Kind

    /// Done, with no result to show.
    public static let done = HandlerOutcome(kind: .done(result: nil))

    /// Done; `GET /commands/{id}` shows `result`.
    public static func done(_ result: some Encodable) throws -> HandlerOutcome {
        HandlerOutcome(kind: .done(result: String(decoding: try MessageCoding.encoder().encode(result), as: UTF8.self)))
    }

    public static func rejected(_ code: ErrorCode, _ message: String) -> HandlerOutcome {
        HandlerOutcome(kind: .rejected(code, message: message))
    }

    public static func rejected(_ rejection: Rejection) -> HandlerOutcome {
        .rejected(rejection.code, rejection.message)
    }

    public static func again(after delay: Duration, until deadline: Date, because reason: String) -> HandlerOutcome {
        HandlerOutcome(kind: .again(after: delay, deadline: deadline, reason: reason))
    }
}

/// A refusal by a business rule, as a value helpers return (`Result<_, Rejection>`) and
/// handlers turn into `.rejected`.
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

/// What a preparing handler's outside step came to: go on to the atomic phase with what it
/// prepared, or finish now (a rejection by the provider, or "again later").
public enum Preparation<Value: Sendable>: Sendable {
    case ready(Value)
    case finished(HandlerOutcome)
}
