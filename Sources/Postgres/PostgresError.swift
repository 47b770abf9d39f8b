import Retriability

/// An error from PostgreSQL or libpq, carrying the SQLSTATE when the server gave one.
public struct PostgresError: Error, Sendable, RetryClassifiable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Could not connect, or the connection broke.
        case connection
        /// The server rejected a statement; see `sqlState`.
        case server
        /// A value could not be decoded into the requested Swift type.
        case decoding
    }

    public var kind: Kind
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var constraint: String?
    /// The statement that failed was a write queued by `executeLater`, not the one that carried
    /// it to the server: whoever ran the carrier is not the one to blame.
    public var fromQueuedWrite = false

    public init(kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil, constraint: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.constraint = constraint
    }

    /// serialization_failure: the transaction helper reruns the whole transaction.
    public static let serializationFailure = "40001"
    /// deadlock_detected: likewise.
    public static let deadlockDetected = "40P01"
    public static let uniqueViolation = "23505"
    public static let checkViolation = "23514"

    /// The server rolled the transaction back because of concurrency; running it again can succeed.
    public var isSerializationConflict: Bool {
        sqlState == Self.serializationFailure || sqlState == Self.deadlockDetected
    }

    /// Trying again later can help: a conflict, a lost connection, a server shutting down or
    /// short of resources (classes 08, 53, 57P0x), a lock timeout (55P03), a standby that is
    /// read-only after a failover (25006), a cancelled statement (57014).
    public var isRetriable: Bool {
        if kind == .connection || isSerializationConflict { return true }
        guard let sqlState else { return false }
        return sqlState.hasPrefix("08") || sqlState.hasPrefix("53") || sqlState.hasPrefix("57P")
            || ["55P03", "25006", "57014"].contains(sqlState)
            // A prepared statement whose table changed under it, or gone: the connection forgot
            // it (PGConnection), so the transaction run again prepares it anew.
            || sqlState == "26000" || (sqlState == "0A000" && message.contains("cached plan"))
    }

    public var description: String {
        var text = "Postgres \(kind)"
        if let sqlState { text += " [\(sqlState)]" }
        text += ": \(message)"
        if let detail { text += " (\(detail))" }
        return text
    }
}
