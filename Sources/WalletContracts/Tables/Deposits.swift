import Foundation
import Postgres

public enum DepositStatus: String, Sendable, Codable, CaseIterable {
    case pending = "PENDING", paid = "PAID", expired = "EXPIRED", failed = "FAILED", canceled = "CANCELED"

    /// A status read from the database; an unknown value is an error, not a crash.
    public init(stored: String) throws {
        guard let status = DepositStatus(rawValue: stored) else {
            throw PostgresError(kind: .decoding, message: "unknown deposit status '\(stored)'")
        }
        self = status
    }
}

/// A deposit as the API shows it.
public struct DepositView: Codable, Sendable, Equatable {
    /// Lower-case UUID, like every id the API shows.
    public var id: String
    public var status: DepositStatus
    public var amount: Int64
    public var fee: Int64
    public var totalAmount: Int64
    public var method: String
    public var paymentName: String?
    public var reference: String?
    public var merchantRef: String
    public var payCode: String?
    public var checkoutUrl: String?
    public var payUrl: String?
    public var qrString: String?
    public var promoCode: String?
    public var bonus: Int64
    public var expiresAt: Date
    public var paidAt: Date?
    public var createdAt: Date
}

/// The `deposits` table. Reads here (the API's views, always scoped to one customer); the
/// payments worker's writes are in `Wallet` (`Deposits+Writes`).
public enum Deposits {
    static let viewColumns = """
        id, status, amount, fee, total_amount, method, payment_name, reference, merchant_ref, pay_code, checkout_url, pay_url,
        qr_string, promo_code, bonus, expires_at, paid_at, created_at
        """

    /// The customer's own deposit; nil for another customer's.
    public static func view(_ id: UUID, customerId: String, on connection: PGConnection) throws -> DepositView? {
        try connection.query("SELECT \(viewColumns) FROM deposits WHERE id = $1 AND customer_id = $2", id, customerId).first.map(
            decodeView)
    }

    /// Newest first.
    public static func views(customerId: String, limit: Int, on connection: PGConnection) throws -> [DepositView] {
        try connection.query(
            "SELECT \(viewColumns) FROM deposits WHERE customer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2", customerId, limit
        ).map(decodeView)
    }

    static func decodeView(_ row: PostgresRow) throws -> DepositView {
        DepositView(
            id: try row.decode("id", as: UUID.self).uuidString.lowercased(), status: try DepositStatus(stored: try row.decode("status")),
            amount: try row.decode("amount"), fee: try row.decode("fee"),
            totalAmount: try row.decode("total_amount"), method: try row.decode("method"), paymentName: try row.decode("payment_name"),
            reference: try row.decode("reference"), merchantRef: try row.decode("merchant_ref"), payCode: try row.decode("pay_code"),
            checkoutUrl: try row.decode("checkout_url"), payUrl: try row.decode("pay_url"), qrString: try row.decode("qr_string"),
            promoCode: try row.decode("promo_code"), bonus: try row.decode("bonus"), expiresAt: try row.decode("expires_at"),
            paidAt: try row.decode("paid_at"), createdAt: try row.decode("created_at"))
    }
}
