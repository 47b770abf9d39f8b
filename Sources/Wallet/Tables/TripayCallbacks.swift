import Foundation
import Messaging
import Postgres
import Tripay

/// The `tripay_callbacks` table: every callback applied, with what it did (support's record).
enum TripayCallbacks {
    static func record(
        messageId: UUID, callback: TripayCallback, depositId: UUID?, outcome: String, rawBody: String, on connection: PGConnection
    ) throws {
        // Sent with the commit (or the next statement): nothing reads its result.
        try connection.executeLater(
            """
            INSERT INTO tripay_callbacks
                (message_id, reference, merchant_ref, status, total_amount, amount_received, deposit_id, outcome, raw_body)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """,
            messageId, callback.reference, callback.merchantRef, callback.status.rawValue, callback.totalAmount, callback.amountReceived,
            depositId, outcome, rawBody)
    }

    /// Prunes the callback log after `keep` (an exclusive hourly job).
    static func retentionJob(pool: PostgresPool, keep: Duration) -> PeriodicJob {
        PeriodicJob(name: "retention.tripay-callbacks", every: .seconds(3600), exclusive: true) { context in
            let cutoff = context.now.addingTimeInterval(-Double(keep.components.seconds))
            let pruned = try await Retention.prune(table: "tripay_callbacks", column: "handled_at", before: cutoff, pool: pool)
            context.logger.info("retention: pruned the Tripay callback log", metadata: ["rows": "\(pruned)"])
        }
    }
}
