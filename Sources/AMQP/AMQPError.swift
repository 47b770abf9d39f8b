import Retriability

/// An error from the broker or the connection to it.
///
/// `isRetriable` says whether trying again (after a reconnect) can help: a lost connection can,
/// a refused login or a wrong queue argument cannot.
public struct AMQPError: Error, Sendable, RetryClassifiable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No connection to the broker right now.
        case notConnected
        /// The connection was lost (socket error, missed heartbeats, broker closed it).
        case connectionLost
        /// The broker closed the channel or connection with an AMQP reply code.
        case closedByBroker(code: UInt16)
        /// The broker answered a publish with `basic.nack`.
        case nacked
        /// A mandatory message could not be routed to any queue.
        case unroutable
        /// No confirm arrived within the confirm timeout; the message may still be delivered.
        case confirmTimeout
        /// A queue or exchange does not exist (passive declare).
        case notFound
        /// Login refused, bad URL, TLS set-up: fixing configuration is the only cure.
        case configuration
        /// A library call failed in a way not listed above.
        case library(status: Int32)
        /// The client was closed.
        case closed
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var isRetriable: Bool {
        switch kind {
        case .notConnected, .connectionLost, .nacked, .confirmTimeout, .library: return true
        case .closedByBroker(let code): return code == 320 || code == 541  // connection-forced, internal-error
        case .unroutable, .notFound, .configuration, .closed: return false
        }
    }

    public var description: String { "AMQP \(kind): \(message)" }
}
