import AMQP
import Foundation
import Logging
import Messaging
import Postgres
import Tripay
import WalletContracts

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

    /// The reconciler as a periodic job. Every payments worker runs it: each round claims its
    /// deposits with `SKIP LOCKED` and marks them checked, so rounds of several workers share the
    /// deposits instead of repeating each other, and a dead worker costs nothing.
    public var job: PeriodicJob {
        PeriodicJob(name: "payments.deposit-reconciler", every: interval, exclusive: false) { context in
            try await reconcileOnce(now: context.now)
        }
    }

    /// One round at the logical time `now`; returns how many callbacks it published.
    @discardableResult
    public func reconcileOnce(now: Date) async throws -> Int {
        let olderThan = now.addingTimeInterval(-Double(after.components.seconds))
        let checkedBefore = now.addingTimeInterval(-Double(interval.components.seconds))
        let candidates = try await pool.transaction { connection in
            try Deposits.claimForReconciliation(olderThan: olderThan, checkedBefore: checkedBefore, now: now, limit: 100, on: connection)
        }
        var published = 0
        for candidate in candidates {
            var status: TripayCallback.Status?
            var detail: TripayTransaction?
            do {
                detail = try await tripay.transactionDetail(reference: candidate.reference)
                if let state = detail?.status, let known = TripayCallback.Status(rawValue: state) { status = known }
            } catch {
                logger.notice(
                    "reconcile: transaction detail failed", metadata: ["reference": "\(candidate.reference)", "error": "\(error)"])
            }
            if status == nil && candidate.expired { status = .expired }
            guard let status else { continue }
            try await publishCallback(for: candidate, status: status, detail: detail, now: now)
            published += 1
        }
        return published
    }

    private func publishCallback(
        for candidate: Deposits.ReconcileCandidate, status: TripayCallback.Status, detail: TripayTransaction?, now: Date
    ) async throws {
        let callback = TripayCallback(
            reference: candidate.reference, merchantRef: candidate.merchantRef, paymentMethod: detail?.paymentName,
            paymentMethodCode: detail?.paymentMethod, totalAmount: detail?.amount ?? candidate.totalAmount,
            feeMerchant: detail?.feeMerchant ?? 0, feeCustomer: detail?.feeCustomer ?? 0, totalFee: detail?.totalFee ?? 0,
            amountReceived: detail?.amountReceived ?? candidate.amount, status: status, paidAt: detail?.paidAt,
            note: "reconciled from transaction/detail")
        let raw = String(decoding: try JSONEncoder().encode(callback), as: UTF8.self)
        let envelope = Envelope(
            id: TripayCallbackReceived.messageID(reference: candidate.reference, status: status.rawValue),
            data: TripayCallbackReceived(rawBody: raw, receivedAt: now), occurredAt: now, correlationId: candidate.reference)
        try await broker.publish(envelope)
        logger.info(
            "reconcile: published the missing callback", metadata: ["reference": "\(candidate.reference)", "status": "\(status.rawValue)"])
    }
}
