import AMQP
import Foundation
import Logging
import Messaging
import Postgres
import Tripay

/// Finishes deposits whose callback never came (DOMAIN.md, fixed: Tripay retries a callback only
/// 3 times). Each round claims PENDING deposits older than `after` that were not checked within
/// `interval`, asks Tripay's `transaction/detail` about each, and when Tripay knows an outcome,
/// or the deposit is past its expiry, publishes the callback Tripay would have sent — with the
/// same message id as Tripay's own (reference, status), so whichever arrives second is a no-op —
/// for `TripayCallbackHandler` to apply by the usual rules.
public struct DepositReconciler: Sendable {
    let pool: PostgresPool
    let tripay: TripayClient
    let broker: BrokerClient
    let after: Duration
    let interval: Duration
    let logger: Logger

    public init(pool: PostgresPool, tripay: TripayClient, broker: BrokerClient, after: Duration, interval: Duration, logger: Logger) {
        self.pool = pool
        self.tripay = tripay
        self.broker = broker
        self.after = after
        self.interval = interval
        self.logger = logger
    }

    struct Candidate: Sendable {
        var id: UUID
        var reference: String
        var merchantRef: String
        var totalAmount: Int64
        var amount: Int64
        var expired: Bool
    }

    /// One round; returns how many callbacks it published.
    @discardableResult
    public func reconcileOnce(now: Date = Date()) async throws -> Int {
        let candidates = try await claim(now: now)
        var published = 0
        for candidate in candidates {
            var status: String?
            var detail: TripayTransaction?
            do {
                detail = try await tripay.transactionDetail(reference: candidate.reference)
                if let state = detail?.status, ["PAID", "EXPIRED", "FAILED", "REFUND"].contains(state) { status = state }
            } catch {
                logger.notice(
                    "reconcile: transaction detail failed", metadata: ["reference": "\(candidate.reference)", "error": "\(error)"])
            }
            if status == nil && candidate.expired { status = "EXPIRED" }
            guard let status else { continue }
            try await publishCallback(for: candidate, status: status, detail: detail)
            published += 1
        }
        return published
    }

    private func claim(now: Date) async throws -> [Candidate] {
        let olderThan = now.addingTimeInterval(-Double(after.components.seconds))
        let checkedBefore = now.addingTimeInterval(-Double(interval.components.seconds))
        return try await pool.transaction { connection in
            try connection.query(
                """
                UPDATE deposits SET reconciled_at = $3
                WHERE id IN (
                    SELECT id FROM deposits
                    WHERE status = 'PENDING' AND reference IS NOT NULL AND created_at < $1
                      AND (reconciled_at IS NULL OR reconciled_at < $2)
                    ORDER BY created_at LIMIT 100
                    FOR UPDATE SKIP LOCKED)
                RETURNING id, reference, merchant_ref, total_amount, amount, expires_at < $3 AS expired
                """, olderThan, checkedBefore, now
            ).map {
                Candidate(
                    id: try $0.decode("id"), reference: try $0.decode("reference"), merchantRef: try $0.decode("merchant_ref"),
                    totalAmount: try $0.decode("total_amount"), amount: try $0.decode("amount"), expired: try $0.decode("expired"))
            }
        }
    }

    private func publishCallback(for candidate: Candidate, status: String, detail: TripayTransaction?) async throws {
        let callback = TripayCallback(
            reference: candidate.reference, merchantRef: candidate.merchantRef, paymentMethod: detail?.paymentName,
            paymentMethodCode: detail?.paymentMethod, totalAmount: detail?.amount ?? candidate.totalAmount,
            feeMerchant: detail?.feeMerchant ?? 0, feeCustomer: detail?.feeCustomer ?? 0, totalFee: detail?.totalFee ?? 0,
            amountReceived: detail?.amountReceived ?? candidate.amount, status: TripayCallback.Status(rawValue: status)!,
            paidAt: detail?.paidAt, note: "reconciled from transaction/detail")
        let raw = String(decoding: try JSONEncoder().encode(callback), as: UTF8.self)
        let envelope = Envelope(
            id: TripayCallbackReceived.messageID(reference: candidate.reference, status: status),
            data: TripayCallbackReceived(rawBody: raw, receivedAt: Date()), correlationId: candidate.reference)
        try await broker.publish(envelope)
        logger.info("reconcile: published the missing callback", metadata: ["reference": "\(candidate.reference)", "status": "\(status)"])
    }
}
