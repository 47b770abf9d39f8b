import AMQP
import Curl
import Postgres

/// What a handler throws to say how its failure should be treated.
///
/// Error codes are plain strings in the business's words (`INSUFFICIENT_BALANCE`,
/// `TRIPAY_CHANNEL_NOT_FOUND`), so adding one never breaks a caller.
public struct HandlerFailure: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case transient, permanent }

    public var kind: Kind
    public var code: String
    public var message: String

    /// Bad input or a broken business rule: retrying cannot help. The outcome is recorded and
    /// the message acknowledged.
    public static func permanent(_ code: String, _ message: String) -> HandlerFailure {
        HandlerFailure(kind: .permanent, code: code, message: message)
    }

    /// Something outside is not ready (a provider's 5xx, a timeout): retry after a delay.
    public static func transient(_ code: String, _ message: String) -> HandlerFailure {
        HandlerFailure(kind: .transient, code: code, message: message)
    }

    public var description: String { "\(code): \(message)" }
}

/// The envelope or body could not be decoded, or no handler knows its type.
public struct UndecodableMessage: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// How the runtime treats a failed handler run.
public enum FailureClass: Sendable, Equatable {
    /// Retry through the delay tiers; dead-letter once the attempts are used up.
    case transient
    /// Record the outcome, acknowledge; no retry.
    case permanent(code: String)
    /// Dead-letter at once: retrying the same bytes cannot succeed and an operator must look.
    case poison
}

/// The classification rule, as a pure function so its table is tested exhaustively.
public func classify(_ error: Error) -> FailureClass {
    switch error {
    case let failure as HandlerFailure:
        return failure.kind == .permanent ? .permanent(code: failure.code) : .transient
    case is UndecodableMessage:
        return .poison
    case let error as PostgresError:
        // Conflicts, lost connections, a restarting server: transient. A constraint or syntax
        // error is a bug or bad data that the same bytes will hit again.
        return error.isRetriable ? .transient : .poison
    case let error as AMQPError:
        return error.isRetriable ? .transient : .poison
    case let error as CurlError:
        return error.isRetriable ? .transient : .poison
    default:
        // Unknown errors get the benefit of the doubt, bounded by maxAttempts.
        return .transient
    }
}
