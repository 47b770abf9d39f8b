import AMQP
import Foundation
import Logging
import Messaging
import Postgres
import Tripay
import WalletContracts

/// Finishes deposits whose callback never came (DOMAIN.md, fixed: Tripay retries a callback only
/// 3 times). Each round claims at most `batch` PENDING deposits (unflagged, or flagged only for a
/// duplicate Tripay transaction) and CANCELED or FAILED ones still payable at Tripay, older than `after`
/// whose next check is due (each deposit's checks back off, doubling from `interval` to
/// `maxBackoff`), asks Tripay's `transaction/detail` about each, and publishes the callback that
/// Tripay's answer implies (`ReconcileDecision`) for `TripayCallbackHandler` to apply by the
/// usual rules. A lookup that fails changes nothing.
public struct DepositReconciler: Sendable {
    public struct Settings: Sendable {
        public var after: Duration
        public var interval: Duration
        /// How long past its expiry an UNPAID deposit is still given (Tripay's clock, a payment
        /// in flight) before it is expired.
        public var expiryGrace: Duration
        public var batch: Int
        public var maxBackoff: Duration

        public init(
            after: Duration = .seconds(300), interval: Duration = .seconds(60), expiryGrace: Duration = .seconds(1800),
            batch: Int = 100, maxBackoff: Duration = .seconds(3600)
        ) {
            self.after = after
            self.interval = interval
            self.expiryGrace = expiryGrace
            self.batch = batch
            self.maxBackoff = maxBackoff
        }
    }

    let pool: PostgresPool
    let tripay: TripayClient
    let broker: BrokerClient
    let settings: Settings
    let logger: Logger

    public init(pool: PostgresPool, tripay: TripayClient, broker: BrokerClient, settings: Settings, logger: Logger) {
        self.pool = pool
        self.tripay = tripay
        self.broker = broker
        self.settings = settings
        self.logger = logger
    }

    /// The reconciler as a periodic job. Every payments worker runs it: each round claims its
    /// deposits with `SKIP LOCKED` and moves their next check forward, so rounds of several
    /// workers share the deposits instead of repeating each other, and a dead worker costs nothing.
    public var job: PeriodicJob {
        PeriodicJob(name: "payments.deposit-reconciler", every: settings.interval, exclusive: false) { context in
            try await reconcileOnce(now: context.now)
        }
    }

    /// One round at the logical time `now`; returns how many callbacks it published.
    @discardableResult
    public func reconcileOnce(now: Date) async throws -> Int {
        let olderThan = now.addingTimeInterval(-Double(settings.after.components.seconds))
        let settings = self.settings
        let candidates = try await pool.transaction { connection in
            try Deposits.claimForReconciliation(
                olderThan: olderThan, now: now, interval: settings.interval, maxBackoff: settings.maxBackoff,
                grace: settings.expiryGrace, limit: settings.batch, on: connection)
        }
        var published = 0
        for candidate in candidates {
            let lookup: Result<TripayTransaction, Error>
            do {
                lookup = .success(try await tripay.transactionDetail(reference: candidate.reference))
            } catch {
                lookup = .failure(error)
                logger.notice(
                    "reconcile: transaction detail failed; nothing changes",
                    metadata: ["reference": "\(candidate.reference)", "error": "\(error)"])
            }
            let decision = ReconcileDecision.decide(
                tripayStatus: (try? lookup.get())?.status, expiresAt: candidate.expiresAt, now: now, grace: settings.expiryGrace)
            guard case .publish(let status) = decision else { continue }
            try await publishCallback(for: candidate, status: status, detail: try? lookup.get(), now: now)
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
        // An id of its own: it never collides with a callback of Tripay's that was consumed
        // earlier; applying both is safe, the handler's rules are idempotent per deposit.
        let envelope = Envelope(
            id: MessageID.derive("reconciled-callback", candidate.reference, status.rawValue),
            data: TripayCallbackReceived(rawBody: raw, receivedAt: now), occurredAt: now, correlationId: candidate.reference)
        try await broker.publish(envelope)
        logger.info(
            "reconcile: published the missing callback", metadata: ["reference": "\(candidate.reference)", "status": "\(status.rawValue)"])
    }
}

/// What a reconciliation does with Tripay's answer: a pure rule, tested on its own.
public enum ReconcileDecision: Sendable, Equatable {
    case publish(TripayCallback.Status)
    case wait

    /// - Parameter tripayStatus: Tripay's status for the transaction; nil when the lookup failed
    ///   (timeout, 5xx, 429, "not found"), which changes nothing.
    public static func decide(tripayStatus: String?, expiresAt: Date, now: Date, grace: Duration) -> ReconcileDecision {
        switch tripayStatus {
        case "PAID": return .publish(.paid)
        case "EXPIRED": return .publish(.expired)
        case "FAILED": return .publish(.failed)
        case "REFUND": return .publish(.refund)
        case "UNPAID":
            // Expired only well past the expiry: a payment may still be on its way.
            return now >= expiresAt.addingTimeInterval(Double(grace.components.seconds)) ? .publish(.expired) : .wait
        default:
            return .wait
        }
    }
}
