import Foundation
import Postgres

/// A deposit as the API shows it.
public struct DepositView: Codable, Sendable, Equatable {
    /// Lower-case UUID, like every id the API shows.
    public var id: String
    public var status: String
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

/// A ledger entry as the API shows it.
public struct LedgerEntryView: Codable, Sendable, Equatable {
    public var id: Int64
    public var type: String
    public var amount: Int64
    public var balanceBefore: Int64
    public var balanceAfter: Int64
    public var referenceType: String
    public var referenceId: String
    public var description: String
    public var createdAt: Date
}

/// The reads the API serves straight from Postgres, always scoped to one customer.
public enum DepositQueries {
    static let columns = """
        id, status, amount, fee, total_amount, method, payment_name, reference, merchant_ref, pay_code, checkout_url, pay_url,
        qr_string, promo_code, bonus, expires_at, paid_at, created_at
        """

    public static func find(_ id: UUID, customerId: String, on connection: PGConnection) throws -> DepositView? {
        try connection.query("SELECT \(columns) FROM deposits WHERE id = $1 AND customer_id = $2", id, customerId).first.map(decode)
    }

    /// Newest first; `before` is the `createdAt` cursor of the last item seen.
    public static func list(customerId: String, limit: Int, on connection: PGConnection) throws -> [DepositView] {
        try connection.query(
            "SELECT \(columns) FROM deposits WHERE customer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2", customerId, limit
        ).map(decode)
    }

    /// Ledger entries newest first, `after` the id cursor from the previous page.
    public static func ledger(customerId: String, before cursor: Int64?, limit: Int, on connection: PGConnection) throws
        -> [LedgerEntryView]
    {
        try connection.query(
            """
            SELECT id, entry_type, amount, balance_before, balance_after, reference_type, reference_id, description, created_at
            FROM ledger_entries WHERE customer_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3
            """, customerId, cursor, limit
        ).map {
            LedgerEntryView(
                id: try $0.decode("id"), type: try $0.decode("entry_type"), amount: try $0.decode("amount"),
                balanceBefore: try $0.decode("balance_before"), balanceAfter: try $0.decode("balance_after"),
                referenceType: try $0.decode("reference_type"), referenceId: try $0.decode("reference_id"),
                description: try $0.decode("description"), createdAt: try $0.decode("created_at"))
        }
    }

    static func decode(_ row: PostgresRow) throws -> DepositView {
        DepositView(
            id: try row.decode("id", as: UUID.self).uuidString.lowercased(), status: try row.decode("status"),
            amount: try row.decode("amount"), fee: try row.decode("fee"),
            totalAmount: try row.decode("total_amount"), method: try row.decode("method"), paymentName: try row.decode("payment_name"),
            reference: try row.decode("reference"), merchantRef: try row.decode("merchant_ref"), payCode: try row.decode("pay_code"),
            checkoutUrl: try row.decode("checkout_url"), payUrl: try row.decode("pay_url"), qrString: try row.decode("qr_string"),
            promoCode: try row.decode("promo_code"), bonus: try row.decode("bonus"), expiresAt: try row.decode("expires_at"),
            paidAt: try row.decode("paid_at"), createdAt: try row.decode("created_at"))
    }
}
