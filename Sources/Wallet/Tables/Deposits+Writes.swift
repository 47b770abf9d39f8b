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
    @discardableResult
    public static func insert(_ new: NewDeposit, on connection: PGConnection) throws -> Deposit? {
        try connection.execute(
            """
            INSERT INTO deposits (id, customer_id, amount, fee, total_amount, method, reference, merchant_ref, pay_code, checkout_url,
                                  payment_name, pay_url, qr_string, promo_code, expires_at, command_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
            ON CONFLICT (id) DO NOTHING
            """,
            new.id, new.customerId, new.amount, new.fee, new.amount + new.fee, new.method, new.reference, Deposit.merchantRef(for: new.id),
            new.payCode, new.checkoutURL, new.paymentName, new.payURL, new.qrString, new.promoCode?.uppercased(), new.expiresAt,
            new.commandId)
        return try find(id: new.id, on: connection)
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

    /// Marks a deposit for an operator (amount mismatch, refund after payment, payment after expiry).
    static func flag(_ id: UUID, reason: String, keepingEarlier: Bool = false, on connection: PGConnection) throws {
        try connection.execute(
            "UPDATE deposits SET flag = \(keepingEarlier ? "COALESCE(flag, $2)" : "$2"), updated_at = now() WHERE id = $1", id, reason)
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
        var expired: Bool
    }

    /// Claims up to `limit` PENDING deposits created before `olderThan` and not checked since
    /// `checkedBefore` (`SKIP LOCKED`: several workers share the work), marking them checked at `now`.
    static func claimForReconciliation(olderThan: Date, checkedBefore: Date, now: Date, limit: Int, on connection: PGConnection) throws
        -> [ReconcileCandidate]
    {
        try connection.query(
            """
            UPDATE deposits SET reconciled_at = $3
            WHERE id IN (
                SELECT id FROM deposits
                WHERE status = 'PENDING' AND reference IS NOT NULL AND created_at < $1
                  AND (reconciled_at IS NULL OR reconciled_at < $2)
                ORDER BY created_at LIMIT $4
                FOR UPDATE SKIP LOCKED)
            RETURNING id, reference, merchant_ref, total_amount, amount, expires_at < $3 AS expired
            """, olderThan, checkedBefore, now, limit
        ).map {
            ReconcileCandidate(
                id: try $0.decode("id"), reference: try $0.decode("reference"), merchantRef: try $0.decode("merchant_ref"),
                totalAmount: try $0.decode("total_amount"), amount: try $0.decode("amount"), expired: try $0.decode("expired"))
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
