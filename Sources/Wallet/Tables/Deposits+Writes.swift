import Foundation
import Messaging
import Postgres
import WalletContracts

/// A wallet top-up through Tripay (DOMAIN.md: Deposits), as the payments worker sees it.
public struct Deposit: Sendable, Equatable {
    public var id: UUID
    public var customerId: String
    /// What the wallet is credited.
    public var amount: Int64
    /// The channel fee the customer pays on top.
    public var fee: Int64
    /// What the customer pays Tripay: amount + fee.
    public var totalAmount: Int64
    public var method: String
    public var status: DepositStatus
    public var reference: String?
    public var merchantRef: String
    public var expiresAt: Date
    public var flag: String?
    public var promoCode: String?

    /// `merchant_ref` derived from the deposit id: unique and stable across retries.
    public static func merchantRef(for id: UUID) -> String {
        "DEP-" + id.uuidString.replacingOccurrences(of: "-", with: "").uppercased()
    }
}

/// Why a deposit needs an operator.
public enum DepositFlag: String, Sendable, CaseIterable {
    /// Tripay's total or amount received differs from the deposit: nothing was credited.
    case amountMismatch = "AMOUNT_MISMATCH"
    /// Money arrived after we had closed the deposit: credited, an operator looks.
    case paidAfterExpired = "PAID_AFTER_EXPIRED"
    case paidAfterCanceled = "PAID_AFTER_CANCELED"
    case paidAfterFailed = "PAID_AFTER_FAILED"
    /// Tripay refunded a paid deposit: the wallet is not debited automatically.
    case refundedAfterPayment = "REFUNDED_AFTER_PAYMENT"
    /// The promo no longer applied at payment: credited without the bonus.
    case promoNotApplied = "PROMO_NOT_APPLIED"
    /// Tripay's fee for the created transaction is not the channel rule's: refused.
    case feeMismatch = "FEE_MISMATCH"
    /// Tripay holds more than one transaction for the deposit's merchant_ref.
    case multipleTripayTransactions = "MULTIPLE_TRIPAY_TRANSACTIONS"
    /// A second payment arrived for a deposit already paid (another transaction of its merchant_ref).
    case paidTwice = "PAID_TWICE"

    static func paidAfter(_ status: DepositStatus) -> DepositFlag {
        switch status {
        case .canceled: return .paidAfterCanceled
        case .failed: return .paidAfterFailed
        default: return .paidAfterExpired
        }
    }
}

/// A deposit to record: what Tripay answered for it, and what the customer asked for.
public struct NewDeposit: Sendable {
    public var id: UUID
    public var customerId: String
    public var amount: Int64
    public var fee: Int64
    public var method: String
    public var reference: String
    public var payCode: String?
    public var checkoutURL: String?
    public var paymentName: String?
    public var payURL: String?
    public var qrString: String?
    public var promoCode: String?
    public var expiresAt: Date
    public var commandId: UUID?

    public init(
        id: UUID, customerId: String, amount: Int64, fee: Int64, method: String, reference: String, payCode: String? = nil,
        checkoutURL: String? = nil, paymentName: String? = nil, payURL: String? = nil, qrString: String? = nil, promoCode: String? = nil,
        expiresAt: Date, commandId: UUID? = nil
    ) {
        self.id = id
        self.customerId = customerId
        self.amount = amount
        self.fee = fee
        self.method = method
        self.reference = reference
        self.payCode = payCode
        self.checkoutURL = checkoutURL
        self.paymentName = paymentName
        self.payURL = payURL
        self.qrString = qrString
        self.promoCode = promoCode
        self.expiresAt = expiresAt
        self.commandId = commandId
    }
}

/// The payments worker's writes to `deposits`.
extension Deposits {
    static let columns = "id, customer_id, amount, fee, total_amount, method, status, reference, merchant_ref, expires_at, flag, promo_code"

    /// Records a PENDING deposit that Tripay knows by its reference: the one insert path. A
    /// deposit recorded before (a redelivery) is left as it is.
    /// A deposit refused at creation (a fee Tripay computed otherwise) is recorded FAILED, so
    /// its flag and Tripay reference stay for an operator.
    @discardableResult
    public static func insert(_ new: NewDeposit, status: DepositStatus = .pending, on connection: PGConnection) throws -> Deposit? {
        try connection.execute(
            """
            INSERT INTO deposits (id, customer_id, amount, fee, total_amount, method, reference, merchant_ref, pay_code, checkout_url,
                                  payment_name, pay_url, qr_string, promo_code, expires_at, command_id, status)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
            ON CONFLICT (id) DO NOTHING
            """,
            new.id, new.customerId, new.amount, new.fee, new.amount + new.fee, new.method, new.reference, Deposit.merchantRef(for: new.id),
            new.payCode, new.checkoutURL, new.paymentName, new.payURL, new.qrString, new.promoCode?.uppercased(), new.expiresAt,
            new.commandId, status.rawValue)
        return try find(id: new.id, on: connection)
    }

    /// The deposit whose `merchant_ref` this is (a callback whose reference we do not know: a
    /// second Tripay transaction for the deposit), locked.
    static func lock(merchantRef: String, on connection: PGConnection) throws -> Deposit? {
        try connection.query("SELECT \(columns) FROM deposits WHERE merchant_ref = $1 FOR UPDATE", merchantRef).first.map(decode)
    }

    /// Takes the lease on creating `depositId` at Tripay, recording the attempt before Tripay is
    /// called; nil while another delivery holds it. Returns the attempt number (1 = nobody can
    /// have called Tripay for it before).
    static func leaseCreate(_ depositId: UUID, merchantRef: String, holder: UUID, forSeconds seconds: Int, on connection: PGConnection)
        throws -> Int?
    {
        try connection.query(
            """
            INSERT INTO tripay_creates (deposit_id, merchant_ref, attempts, leased_until, lease_holder)
            VALUES ($1, $2, 1, now() + make_interval(secs => $3), $4)
            ON CONFLICT (deposit_id) DO UPDATE SET attempts = tripay_creates.attempts + 1, leased_until = EXCLUDED.leased_until,
                lease_holder = EXCLUDED.lease_holder
            WHERE tripay_creates.leased_until IS NULL OR tripay_creates.leased_until < now()
            RETURNING attempts
            """, depositId, merchantRef, Double(seconds), holder
        ).first?.decode("attempts")
    }

    /// The deposit was paid through another Tripay transaction of its merchant_ref: that one's
    /// reference is the deposit's from now on (a payment of the first is then a second payment).
    static func adoptReference(_ id: UUID, reference: String, on connection: PGConnection) throws {
        try connection.execute("UPDATE deposits SET reference = $2, updated_at = now() WHERE id = $1", id, reference)
    }

    /// Gives the lease back after a failed attempt, so the next delivery need not wait it out.
    static func releaseCreate(_ depositId: UUID, holder: UUID, on connection: PGConnection) throws {
        try connection.execute(
            "UPDATE tripay_creates SET leased_until = NULL WHERE deposit_id = $1 AND lease_holder = $2", depositId, holder)
    }

    /// The create is done (the deposit is recorded in the same transaction).
    static func finishCreate(_ depositId: UUID, on connection: PGConnection) throws {
        try connection.execute("DELETE FROM tripay_creates WHERE deposit_id = $1", depositId)
    }

    /// The deposit with this Tripay reference, locked for the rest of the transaction.
    static func lock(reference: String, on connection: PGConnection) throws -> Deposit? {
        try connection.query("SELECT \(columns) FROM deposits WHERE reference = $1 FOR UPDATE", reference).first.map(decode)
    }

    static func find(id: UUID, on connection: PGConnection) throws -> Deposit? {
        try connection.query("SELECT \(columns) FROM deposits WHERE id = $1", id).first.map(decode)
    }

    /// Moves a deposit from `from` to `to`; false when it was not in `from` (the guard).
    static func transition(_ id: UUID, from: DepositStatus, to: DepositStatus, paidAt: Date? = nil, on connection: PGConnection) throws
        -> Bool
    {
        try connection.execute(
            """
            UPDATE deposits SET status = $3, paid_at = COALESCE($4, paid_at), updated_at = now()
            WHERE id = $1 AND status = $2
            """, id, from.rawValue, to.rawValue, paidAt) == 1
    }

    /// Marks a deposit for an operator (amount mismatch, refund after payment, payment after
    /// expiry, a fee Tripay computed otherwise). Every flag is kept in `deposit_flags` with its
    /// time and detail; `deposits.flag` shows the first.
    static func flag(_ id: UUID, _ flag: DepositFlag, detail: String = "", on connection: PGConnection) throws {
        try connection.execute("INSERT INTO deposit_flags (deposit_id, flag, detail) VALUES ($1, $2, $3)", id, flag.rawValue, detail)
        PaymentsMetrics.flagged(flag).increment()
        try connection.execute(
            "UPDATE deposits SET flag = COALESCE(flag, $2), updated_at = now() WHERE id = $1", id, flag.rawValue)
    }

    /// Every flag of a deposit, oldest first.
    static func flags(_ id: UUID, on connection: PGConnection) throws -> [(flag: String, detail: String)] {
        try connection.query("SELECT flag, detail FROM deposit_flags WHERE deposit_id = $1 ORDER BY id", id).map {
            (try $0.decode("flag"), try $0.decode("detail"))
        }
    }

    static func recordBonus(_ id: UUID, bonus: Int64, on connection: PGConnection) throws {
        try connection.execute("UPDATE deposits SET bonus = $2 WHERE id = $1", id, bonus)
    }

    struct ReconcileCandidate: Sendable {
        var id: UUID
        var reference: String
        var merchantRef: String
        var totalAmount: Int64
        var amount: Int64
        var expiresAt: Date
    }

    /// Claims up to `limit` PENDING, unflagged deposits created before `olderThan` whose next
    /// check is due at `now` (`SKIP LOCKED`: several workers share the work), and sets each one's
    /// next check after a backoff that doubles with its checks, from `interval` up to `maxBackoff`.
    /// Also CANCELED and FAILED deposits until their expiry plus `grace` (Tripay's transaction
    /// stays payable after a customer cancels here, or after a refused fee), and PENDING ones
    /// whose only flag is a duplicate transaction; any other flag makes a deposit an operator's.
    static func claimForReconciliation(
        olderThan: Date, now: Date, interval: Duration, maxBackoff: Duration, grace: Duration, limit: Int, on connection: PGConnection
    ) throws -> [ReconcileCandidate] {
        try connection.query(
            """
            UPDATE deposits SET reconciled_at = $2, reconcile_attempts = reconcile_attempts + 1,
                next_reconcile_at = $2 + make_interval(secs => least($5, $4 * power(2, least(reconcile_attempts, 20))))
            WHERE id IN (
                SELECT id FROM deposits
                WHERE reference IS NOT NULL AND created_at < $1
                  AND ((status = 'PENDING'
                        AND NOT EXISTS (SELECT 1 FROM deposit_flags f
                                        WHERE f.deposit_id = deposits.id AND f.flag <> 'MULTIPLE_TRIPAY_TRANSACTIONS'))
                       OR (status IN ('CANCELED', 'FAILED') AND expires_at + make_interval(secs => $6) > $2))
                  AND (next_reconcile_at IS NULL OR next_reconcile_at <= $2)
                ORDER BY next_reconcile_at NULLS FIRST, created_at LIMIT $3
                FOR UPDATE SKIP LOCKED)
            RETURNING id, reference, merchant_ref, total_amount, amount, expires_at
            """, olderThan, now, limit, Double(interval.components.seconds), Double(maxBackoff.components.seconds),
            Double(grace.components.seconds)
        ).map {
            ReconcileCandidate(
                id: try $0.decode("id"), reference: try $0.decode("reference"), merchantRef: try $0.decode("merchant_ref"),
                totalAmount: try $0.decode("total_amount"), amount: try $0.decode("amount"), expiresAt: try $0.decode("expires_at"))
        }
    }

    static func decode(_ row: PostgresRow) throws -> Deposit {
        Deposit(
            id: try row.decode("id"), customerId: try row.decode("customer_id"), amount: try row.decode("amount"),
            fee: try row.decode("fee"), totalAmount: try row.decode("total_amount"), method: try row.decode("method"),
            status: try DepositStatus(stored: try row.decode("status")), reference: try row.decode("reference"),
            merchantRef: try row.decode("merchant_ref"), expiresAt: try row.decode("expires_at"), flag: try row.decode("flag"),
            promoCode: try row.decode("promo_code"))
    }
}
