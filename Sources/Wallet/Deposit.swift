import Foundation
import Postgres

public enum DepositStatus: String, Sendable, Codable {
    case pending = "PENDING", paid = "PAID", expired = "EXPIRED", failed = "FAILED", canceled = "CANCELED"
}

/// A wallet top-up through Tripay (DOMAIN.md: Deposits).
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

    public static let minimumAmount: Int64 = 10_000

    /// `merchant_ref` derived from the deposit id: unique and stable across retries.
    public static func merchantRef(for id: UUID) -> String {
        "DEP-" + id.uuidString.replacingOccurrences(of: "-", with: "").uppercased()
    }
}

/// The deposits table.
public enum Deposits {
    static let columns = "id, customer_id, amount, fee, total_amount, method, status, reference, merchant_ref, expires_at, flag, promo_code"

    /// Records a PENDING deposit that Tripay already knows by `reference`.
    public static func insertPending(
        id: UUID, customerId: String, amount: Int64, fee: Int64, method: String, reference: String, expiresAt: Date,
        on connection: PGConnection
    ) throws -> Deposit {
        try decode(
            connection.query(
                """
                INSERT INTO deposits (id, customer_id, amount, fee, total_amount, method, reference, merchant_ref, expires_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                RETURNING \(columns)
                """,
                id, customerId, amount, fee, amount + fee, method, reference, Deposit.merchantRef(for: id), expiresAt
            ).first!)
    }

    /// The deposit with this Tripay reference, locked for the rest of the transaction.
    public static func lock(reference: String, on connection: PGConnection) throws -> Deposit? {
        try connection.query("SELECT \(columns) FROM deposits WHERE reference = $1 FOR UPDATE", reference).first.map(decode)
    }

    public static func find(id: UUID, on connection: PGConnection) throws -> Deposit? {
        try connection.query("SELECT \(columns) FROM deposits WHERE id = $1", id).first.map(decode)
    }

    /// Moves a deposit from `from` to `to`; false when it was not in `from` (the guard).
    public static func transition(
        _ id: UUID, from: DepositStatus, to: DepositStatus, paidAt: Date? = nil, on connection: PGConnection
    ) throws -> Bool {
        try connection.execute(
            """
            UPDATE deposits SET status = $3, paid_at = COALESCE($4, paid_at), updated_at = now()
            WHERE id = $1 AND status = $2
            """, id, from.rawValue, to.rawValue, paidAt) == 1
    }

    /// Marks a deposit for an operator (amount mismatch, refund after payment, payment after expiry).
    public static func flag(_ id: UUID, reason: String, on connection: PGConnection) throws {
        try connection.execute("UPDATE deposits SET flag = $2, updated_at = now() WHERE id = $1", id, reason)
    }

    static func decode(_ row: PostgresRow) throws -> Deposit {
        Deposit(
            id: try row.decode("id"), customerId: try row.decode("customer_id"), amount: try row.decode("amount"),
            fee: try row.decode("fee"), totalAmount: try row.decode("total_amount"), method: try row.decode("method"),
            status: DepositStatus(rawValue: try row.decode("status"))!, reference: try row.decode("reference"),
            merchantRef: try row.decode("merchant_ref"), expiresAt: try row.decode("expires_at"), flag: try row.decode("flag"),
            promoCode: try row.decode("promo_code"))
    }
}
