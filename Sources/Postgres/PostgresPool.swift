import Dispatch
import Logging
import Synchronization

/// A small pool of libpq connections for async code.
///
/// libpq calls block, so they must not run on Swift's cooperative threads. Each slot owns one
/// connection and one serial `DispatchQueue`; a caller borrows a slot and its closure runs on
/// that queue. Broken connections are replaced on the next use.
public final class PostgresPool: Sendable {
    private let connectionString: String
    private let applicationName: String
    private let logger: Logger
    private let slots: [Slot]
    private let state: Mutex<PoolState>

    struct PoolState {
        var free: [Int]
        var waiters: [CheckedContinuation<Int, Never>] = []
    }

    /// - Parameter connectionString: a `DATABASE_URL` (URL or conninfo); empty uses the `PG*` variables.
    public init(connectionString: String, size: Int = 8, applicationName: String = "armada", logger: Logger) {
        precondition(size > 0, "a pool needs at least one connection")
        self.connectionString = connectionString
        self.applicationName = applicationName
        self.logger = logger
        slots = (0..<size).map { Slot(queue: DispatchQueue(label: "postgres.\(applicationName).\($0)")) }
        state = Mutex(PoolState(free: Array((0..<size).reversed())))
    }

    public var size: Int { slots.count }

    /// Borrows a connection and runs `body` on its queue.
    @discardableResult
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PGConnection) throws -> T) async throws -> T {
        let index = await acquire()
        defer { release(index) }
        let slot = slots[index]
        let connectionString = self.connectionString
        let applicationName = self.applicationName
        return try await withCheckedThrowingContinuation { continuation in
            slot.queue.async {
                continuation.resume(
                    with: Result {
                        let connection = try slot.connection(connectionString, applicationName)
                        do {
                            return try body(connection)
                        } catch {
                            if !connection.isHealthy { slot.discard() }
                            throw error
                        }
                    })
            }
        }
    }

    /// Runs `body` in one transaction; on a serialization failure (40001) or deadlock (40P01)
    /// the whole transaction, closure included, runs again after a jittered backoff, up to
    /// `maxAttempts` times. The closure must therefore have no effects outside the database.
    @discardableResult
    public func transaction<T: Sendable>(
        isolation: IsolationLevel = .readCommitted, maxAttempts: Int = 8,
        _ body: @escaping @Sendable (PGConnection) throws -> T
    ) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await withConnection { connection in
                    try connection.transaction(isolation: isolation, body)
                }
            } catch let error as PostgresError where error.isSerializationConflict && attempt < maxAttempts {
                let base = min(5.0 * Double(1 << min(attempt, 7)), 500.0)
                let delay = Int(base * Double.random(in: 0.5...1.5))
                logger.debug(
                    "transaction conflict, running it again",
                    metadata: ["sqlstate": "\(error.sqlState ?? "")", "attempt": "\(attempt)", "delay_ms": "\(delay)"])
                try await Task.sleep(for: .milliseconds(delay))
                attempt += 1
            }
        }
    }

    private func acquire() async -> Int {
        await withCheckedContinuation { continuation in
            let index: Int? = state.withLock { state in
                if let index = state.free.popLast() { return index }
                state.waiters.append(continuation)
                return nil
            }
            if let index { continuation.resume(returning: index) }
        }
    }

    private func release(_ index: Int) {
        let waiter: CheckedContinuation<Int, Never>? = state.withLock { state in
            if state.waiters.isEmpty {
                state.free.append(index)
                return nil
            }
            return state.waiters.removeFirst()
        }
        waiter?.resume(returning: index)
    }
}

/// One pooled connection and the queue it is confined to.
///
/// `@unchecked Sendable`: `current` is read and written only on `queue`, which is serial.
final class Slot: @unchecked Sendable {
    let queue: DispatchQueue
    private var current: PGConnection?

    init(queue: DispatchQueue) {
        self.queue = queue
    }

    func connection(_ connectionString: String, _ applicationName: String) throws -> PGConnection {
        dispatchPrecondition(condition: .onQueue(queue))
        if let current, current.isHealthy { return current }
        current = nil
        let fresh = try PGConnection(connectionString, applicationName: applicationName)
        current = fresh
        return fresh
    }

    func discard() {
        dispatchPrecondition(condition: .onQueue(queue))
        current = nil
    }
}
