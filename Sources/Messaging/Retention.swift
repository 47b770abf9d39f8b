import Foundation
import Postgres

/// Prunes bookkeeping that outlived its use: inbox rows (a redelivery older than this is not
/// expected: delay tiers wait minutes, a dead letter is replayed within days) and published
/// outbox rows. Every worker runs it as an exclusive periodic job; an area adds its own tables
/// with `prune(table:...)`.
public enum Retention {
    /// Rows older than `keep` go, in batches, so no delete holds locks for long.
    public static func job(
        name: String = "retention.messaging", pool: PostgresPool, keep: Duration, every interval: Duration = .seconds(3600)
    )
        -> PeriodicJob
    {
        PeriodicJob(name: name, every: interval, exclusive: true) { context in
            let cutoff = context.now.addingTimeInterval(-Double(keep.components.seconds))
            let inbox = try await prune(table: "inbox", column: "processed_at", before: cutoff, pool: pool)
            let outbox = try await prune(table: "outbox", column: "published_at", before: cutoff, pool: pool)
            let copies = try await prune(table: "delivery_copies", column: "created_at", before: cutoff, pool: pool)
            context.logger.info("retention: pruned", metadata: ["inbox": "\(inbox)", "outbox": "\(outbox)", "copies": "\(copies)"])
        }
    }

    /// Deletes the rows of `table` whose `column` is before `cutoff` (NULL never is), 5,000 at a
    /// time; returns how many went. `table` and `column` are the caller's constants, never input.
    @discardableResult
    public static func prune(table: StaticString, column: StaticString, before cutoff: Date, pool: PostgresPool) async throws -> Int {
        var total = 0
        while true {
            let deleted = try await pool.transaction { connection in
                try connection.execute(
                    "DELETE FROM \(table) WHERE ctid IN (SELECT ctid FROM \(table) WHERE \(column) < $1 LIMIT 5000)", cutoff)
            }
            total += deleted
            if deleted < 5000 { return total }
        }
    }
}
