import CLibPQ
import Foundation

/// Transaction isolation levels.
public enum IsolationLevel: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

/// One libpq connection. Not thread-safe and not `Sendable`: `PostgresPool` confines each to a
/// serial dispatch queue. Every statement is parameterized (prepared once per connection, then
/// `PQexecPrepared`); SQL is never built from values.
public final class PGConnection {
    private let handle: OpaquePointer
    /// Statements with parameters prepared on this connection, by SQL text: parsed and planned
    /// once, then only bound and executed (`PQexecPrepared`). Bounded, for SQL that varies.
    private var prepared: [String: String] = [:]
    private var preparedCount = 0
    /// Statements queued by `executeLater`, sent with the next statement in one round trip.
    private var deferred: [(sql: String, texts: [String?])] = []
    /// Set when a pipeline could not be left cleanly: the connection is then not reused.
    private var broken = false
    private static let preparedLimit = 512
    /// `ARMADA_PG_PREPARED=off` runs every statement unprepared: for a transaction-mode pooler in
    /// front of PostgreSQL (PgBouncer before 1.21) that cannot keep a session's statements.
    static let prepares = ProcessInfo.processInfo.environment["ARMADA_PG_PREPARED"] != "off"

    /// Connects with a `postgresql://` URL or a `key=value` conninfo; an empty string uses the
    /// standard `PG*` environment variables. Sessions run in UTC.
    public init(_ connectionString: String, applicationName: String = "armada", connectTimeout: Int = 5) throws {
        let keywords = ["dbname", "application_name", "connect_timeout"]
        let values = [connectionString, applicationName, String(connectTimeout)]
        let handle: OpaquePointer? = keywords.withCStrings { keywordPointers in
            values.withCStrings { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let handle else { throw PostgresError(kind: .connection, message: "libpq could not allocate a connection") }
        self.handle = handle
        guard PQstatus(handle) == CONNECTION_OK else {
            throw PostgresError(kind: .connection, message: Self.errorMessage(handle))
        }
        // Notices ("relation already exists, skipping") would go to stderr; they carry nothing we act on.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        try execute("SET TIME ZONE 'UTC'")
    }

    deinit {
        PQfinish(handle)
    }

    /// False once the connection broke; the pool then replaces it.
    public var isHealthy: Bool { !broken && PQstatus(handle) == CONNECTION_OK }

    /// Runs one statement with parameters `$1…$n` and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: any PostgresEncodable...) throws -> PostgresRows {
        try query(sql, parameters: parameters)
    }

    @discardableResult
    public func query(_ sql: String, parameters: [any PostgresEncodable]) throws -> PostgresRows {
        let texts = parameters.map(\.postgresText)
        if !deferred.isEmpty {
            // A rollback undoes what was queued anyway (a savepoint's statement sent everything
            // queued before it), so the queue is dropped rather than sent.
            if sql.hasPrefix("ROLLBACK") {
                deferred.removeAll()
            } else {
                return try pipeline(sql, texts)
            }
        }
        if Self.prepares, !texts.isEmpty, let name = try statement(for: sql, parameterCount: texts.count) {
            do {
                return try run(sql) { handle in
                    texts.withOptionalCStrings { pointers in PQexecPrepared(handle, name, Int32(texts.count), pointers, nil, nil, 0) }
                }
            } catch let error as PostgresError where error.sqlState == "0A000" || error.sqlState == "26000" {
                // A table changed under a prepared plan ("cached plan must not change result
                // type"), or a statement is gone: forget them all. Inside a transaction the error
                // stands (retriable: the rerun prepares anew); alone, run it unprepared now.
                prepared = [:]
                guard PQtransactionStatus(handle) != PQTRANS_INERROR else { throw error }
            }
        }
        return try run(sql) { handle in
            texts.withOptionalCStrings { pointers in PQexecParams(handle, sql, Int32(texts.count), nil, pointers, nil, nil, 0) }
        }
    }

    /// Queues a write whose rows and row count nobody reads, inside a transaction: it is sent
    /// with the next statement (the commit at the latest) in one round trip (libpq pipeline
    /// mode). Its error, if any, is thrown by that next statement, and the transaction rolls
    /// back as for any error. Outside a transaction it runs at once.
    public func executeLater(_ sql: String, _ parameters: any PostgresEncodable...) throws {
        // A rollback drops the queue, which is right only because every transaction-control
        // statement is sent at once (and sends what was queued before it).
        precondition(
            !["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"].contains { sql.uppercased().hasPrefix($0) },
            "transaction control is never queued: \(sql)")
        // In a transaction, or about to be (its BEGIN queued).
        guard PQtransactionStatus(handle) == PQTRANS_INTRANS || !deferred.isEmpty else {
            try query(sql, parameters: parameters)
            return
        }
        deferred.append((sql, parameters.map(\.postgresText)))
    }

    /// Statements waiting for the next round trip (tests).
    public var queuedStatements: Int { deferred.count }

    /// Sends the queued statements and `sql` in one pipeline, one sync; returns `sql`'s rows.
    /// The first error among them is thrown (what follows it is skipped by the server, as in a
    /// transaction after an error).
    private func pipeline(_ sql: String, _ texts: [String?]) throws -> PostgresRows {
        let statements = deferred + [(sql: sql, texts: texts)]
        // Prepared first (once per connection), outside the pipeline. A statement that does not
        // prepare leaves the queue as it is (a queued BEGIN included): nothing was sent.
        var names: [String?] = []
        for statement in statements {
            names.append(
                Self.prepares && !statement.texts.isEmpty
                    ? try self.statement(for: statement.sql, parameterCount: statement.texts.count) : nil
            )
        }
        deferred.removeAll()
        guard PQenterPipelineMode(handle) == 1 else {
            broken = true
            throw PostgresError(kind: .connection, message: Self.errorMessage(handle))
        }
        var sent = 0
        for (statement, name) in zip(statements, names) {
            let accepted = statement.texts.withOptionalCStrings { pointers in
                if let name {
                    return PQsendQueryPrepared(handle, name, Int32(statement.texts.count), pointers, nil, nil, 0)
                }
                return PQsendQueryParams(handle, statement.sql, Int32(statement.texts.count), nil, pointers, nil, nil, 0)
            }
            guard accepted == 1 else { break }
            sent += 1
        }
        let synced = PQpipelineSync(handle) == 1
        var firstError: PostgresError?
        var rows = PostgresRows(columns: [], values: [], affectedRows: 0)
        if sent < statements.count || !synced {
            firstError = PostgresError(kind: .connection, message: Self.errorMessage(handle))
            broken = true
        }
        // Each statement's result, then the sync's.
        var index = 0
        while synced, index < sent {
            guard let result = PQgetResult(handle) else {
                index += 1
                continue
            }
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK:
                if index == statements.count - 1 { rows = Self.rows(of: result) }
            case PGRES_PIPELINE_ABORTED:
                break
            default:
                var error = error(from: result)
                if error.sqlState == "0A000" || error.sqlState == "26000" { prepared = [:] }
                error.fromQueuedWrite = index < statements.count - 1
                if firstError == nil { firstError = error }
            }
        }
        while synced, let result = PQgetResult(handle) {
            let status = PQresultStatus(result)
            PQclear(result)
            if status == PGRES_PIPELINE_SYNC { break }
        }
        if PQexitPipelineMode(handle) != 1 { broken = true }
        if let firstError { throw firstError }
        return rows
    }

    /// The prepared statement for `sql`, preparing it on first use; nil once the cache is full.
    private func statement(for sql: String, parameterCount: Int) throws -> String? {
        if let name = prepared[sql] { return name }
        guard prepared.count < Self.preparedLimit else { return nil }
        preparedCount += 1
        let name = "armada_\(preparedCount)"
        guard let result = PQprepare(handle, name, sql, Int32(parameterCount), nil) else {
            throw PostgresError(kind: .connection, message: Self.errorMessage(handle))
        }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else { throw error(from: result) }
        prepared[sql] = name
        return name
    }

    private func run(_ sql: String, _ send: (OpaquePointer) -> OpaquePointer?) throws -> PostgresRows {
        let result = send(handle)
        guard let result else {
            throw PostgresError(kind: .connection, message: Self.errorMessage(handle))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK:
            return Self.rows(of: result)
        default:
            throw error(from: result)
        }
    }

    /// Runs a statement for its effect; returns the affected row count.
    @discardableResult
    public func execute(_ sql: String, _ parameters: any PostgresEncodable...) throws -> Int {
        try query(sql, parameters: parameters).affectedRows
    }

    /// Runs a script of several statements without parameters (`PQexec`). Only for SQL that
    /// ships with the program, such as migration files; never for anything built from values.
    public func executeScript(_ sql: String) throws {
        if !deferred.isEmpty { try execute("SELECT 1") }
        guard let result = PQexec(handle, sql) else {
            throw PostgresError(kind: .connection, message: Self.errorMessage(handle))
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY else {
            throw error(from: result)
        }
    }

    /// Runs `body` between BEGIN and COMMIT on this connection, rolling back on any error.
    /// BEGIN is queued like `executeLater`: it reaches the server with the transaction's first
    /// statement, one round trip for both.
    public func transaction<T>(isolation: IsolationLevel = .readCommitted, _ body: (PGConnection) throws -> T) throws -> T {
        precondition(deferred.isEmpty, "a transaction began with statements still queued")
        deferred.append(("BEGIN ISOLATION LEVEL \(isolation.rawValue)", []))
        do {
            let value = try body(self)
            // COMMIT of a transaction an earlier error aborted answers "ROLLBACK" as if all were
            // well: a caller that caught that error must not believe its writes committed.
            guard PQtransactionStatus(handle) != PQTRANS_INERROR else {
                throw PostgresError(
                    kind: .server, sqlState: "25P02", message: "the transaction was aborted by an earlier error and cannot commit")
            }
            // Outside a transaction with nothing queued: its BEGIN never reached the server, and
            // what ran since ran on its own. Never report that as one committed transaction.
            guard !(deferred.isEmpty && PQtransactionStatus(handle) == PQTRANS_IDLE) else {
                throw PostgresError(kind: .server, message: "the transaction's BEGIN was lost; its statements did not run as one")
            }
            try execute("COMMIT")
            return value
        } catch {
            deferred.removeAll()
            if isHealthy { _ = try? execute("ROLLBACK") }
            throw error
        }
    }

    private static func rows(of result: OpaquePointer) -> PostgresRows {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var values: [[String?]] = []
        values.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var fields: [String?] = []
            fields.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) != 0 {
                    fields.append(nil)
                } else {
                    fields.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                }
            }
            values.append(fields)
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresRows(columns: columns, values: values, affectedRows: affected)
    }

    private func error(from result: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let sqlState = field("C")
        let message = field("M") ?? Self.errorMessage(handle)
        let kind: PostgresError.Kind = (sqlState == nil && !isHealthy) ? .connection : .server
        return PostgresError(kind: kind, sqlState: sqlState, message: message, detail: field("D"), constraint: field("n"))
    }

    private static func errorMessage(_ handle: OpaquePointer) -> String {
        guard let message = PQerrorMessage(handle) else { return "unknown libpq error" }
        return String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension Array where Element == String {
    /// A NULL-terminated array of C strings valid inside `body`.
    fileprivate func withCStrings<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let copies = map { strdup($0) }
        defer { copies.forEach { free($0) } }
        let pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) } + [nil]
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

extension Array where Element == String? {
    /// C strings for parameters; nil stays a NULL pointer (SQL NULL).
    fileprivate func withOptionalCStrings<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        let copies = map { $0.map { strdup($0) } ?? nil }
        defer { copies.forEach { free($0) } }
        let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } }
        return pointers.withUnsafeBufferPointer { body(isEmpty ? nil : $0.baseAddress) }
    }
}
