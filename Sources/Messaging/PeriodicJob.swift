import Foundation
import Logging
import Postgres
import ServiceLifecycle

/// Work a process does on a timer (the deposit reconciler, the channel refresh, later the
/// lifecycle scheduler and retention), declared as a value and run by `PeriodicService`.
public struct PeriodicJob: Sendable {
    /// Unique across the system: the lease of an exclusive job is kept under this name.
    public var name: String
    public var interval: Duration
    /// Each wait is `interval` ± this fraction, so processes started together drift apart.
    public var jitter: Double
    /// One run per interval across every process running the job (a database lease), for jobs
    /// whose runs must not overlap or repeat; otherwise each process runs it on its own timer.
    public var exclusive: Bool
    public var run: @Sendable (PeriodicContext) async throws -> Void

    public init(
        name: String, every interval: Duration, jitter: Double = 0.1, exclusive: Bool,
        run: @escaping @Sendable (PeriodicContext) async throws -> Void
    ) {
        self.name = name
        self.interval = interval
        self.jitter = jitter
        self.exclusive = exclusive
        self.run = run
    }
}

/// What one run of a periodic job knows: its logical time, taken once when the run starts.
public struct PeriodicContext: Sendable {
    public let now: Date
    public let logger: Logger
}

/// Runs one `PeriodicJob` until graceful shutdown (a run in progress finishes) or cancellation
/// (it stops at once).
public struct PeriodicService: Service {
    let job: PeriodicJob
    let pool: PostgresPool
    let holder: String
    let logger: Logger

    public init(job: PeriodicJob, pool: PostgresPool, holder: String, logger: Logger) {
        self.job = job
        self.pool = pool
        self.holder = holder
        var logger = logger
        logger[metadataKey: "job"] = "\(job.name)"
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await runOnce()
            let factor = 1 + Double.random(in: -job.jitter...job.jitter)
            let wait = Duration.milliseconds(Int64(Double(job.interval.milliseconds) * factor))
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
        }
    }

    /// One run, if this process holds the lease (exclusive jobs); returns whether it ran.
    @discardableResult
    public func runOnce() async -> Bool {
        let now = Date()
        do {
            if job.exclusive {
                // A little shorter than the shortest jittered wait, so the process that ran last
                // time finds the lease free when it wakes next, and another one cannot run in
                // between.
                let seconds = Double(job.interval.milliseconds) / 1000 * (1 - job.jitter) * 0.95
                let (name, holder) = (job.name, holder)
                let leased = try await pool.withConnection {
                    try PeriodicRuns.lease(name, holder: holder, forSeconds: seconds, on: $0)
                }
                guard leased else { return false }
            }
            try await job.run(PeriodicContext(now: now, logger: logger))
            return true
        } catch {
            logger.warning("periodic job failed; next run on schedule", metadata: ["error": "\(error)"])
            return false
        }
    }
}

/// The `periodic_runs` table: the lease of each exclusive periodic job.
public enum PeriodicRuns {
    /// Takes the lease when the job's next run is due, and sets the next one an interval
    /// later; false while another process's lease holds.
    static func lease(_ name: String, holder: String, forSeconds seconds: Double, on connection: PGConnection) throws -> Bool {
        try !connection.query(
            """
            INSERT INTO periodic_runs (name, holder, started_at, next_run_at)
            VALUES ($1, $2, now(), now() + make_interval(secs => $3))
            ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, started_at = EXCLUDED.started_at,
                next_run_at = EXCLUDED.next_run_at
            WHERE periodic_runs.next_run_at <= now()
            RETURNING name
            """, name, holder, seconds
        ).isEmpty
    }
}
