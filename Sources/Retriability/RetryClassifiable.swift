/// An error that knows whether trying the same thing again later can succeed.
///
/// The wrappers (`AMQPError`, `PostgresError`, `CurlError`) and the provider clients
/// (`TripayError`, ...) conform in their own modules, so the messaging runtime classifies a
/// handler's thrown error without importing any of them.
public protocol RetryClassifiable: Error {
    /// True for a lost connection, a timeout, a 5xx or 429, a serialization conflict: the same
    /// message may succeed later. False for a refusal the same input will meet again.
    var isRetriable: Bool { get }
}
