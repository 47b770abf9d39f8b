import Retriability

/// The envelope or body could not be decoded, or no handler knows its type.
public struct UndecodableMessage: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// A failure a handler or a helper knows a later run can get past (a provider that is down, a
/// cache that cannot be filled yet): the runtime retries it through the delay tiers.
public struct RetryLater: Error, RetryClassifiable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var isRetriable: Bool { true }
    public var description: String { reason }
}

/// How the runtime treats an error a handler threw (an outcome it returned is not an error).
public enum FailureClass: Sendable, Equatable {
    /// Retry through the delay tiers; dead-letter once the attempts are used up.
    case transient
    /// Dead-letter at once: retrying the same bytes cannot succeed and an operator must look.
    case poison
}

/// The classification rule, as a pure function so its table is tested exhaustively. Errors of
/// the wrappers and providers say themselves whether a retry can help (`RetryClassifiable`).
public func classify(_ error: Error) -> FailureClass {
    switch error {
    case is UndecodableMessage:
        return .poison
    case let error as RetryClassifiable:
        // A lost connection, a conflict, a provider's 5xx: transient. A constraint violation or a
        // provider's refusal that the handler did not turn into a rejection: a bug or bad data
        // that the same bytes will hit again.
        return error.isRetriable ? .transient : .poison
    default:
        // Unknown errors get the benefit of the doubt, bounded by maxAttempts.
        return .transient
    }
}
