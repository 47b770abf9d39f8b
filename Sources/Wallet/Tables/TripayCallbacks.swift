import Foundation
import Postgres
import Tripay

/// The `tripay_callbacks` table: every callback applied, with what it did (support's record).
enum TripayCallbacks {
    static func record(
        messageId: UUID, callback: TripayCallback, depositId: UUID?, outcome: String, rawBody: String, on connection: PGConnection
    ) throws {
        try connection.execute(
            """
            INSERT INTO tripay_callbacks
                (message_id, reference, merchant_ref, status, total_amount, amount_received, deposit_id, outcome, raw_body)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """,
            messageId, callback.reference, callback.merchantRef, callback.status.rawValue, callback.totalAmount, callback.amountReceived,
            depositId, outcome, rawBody)
    }
}
