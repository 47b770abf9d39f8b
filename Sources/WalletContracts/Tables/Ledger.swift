import Foundation
import Postgres

/// Why money moved: with the reference id, what makes a credit or debit happen once.
public enum LedgerReference: String, Sendable, Codable, CaseIterable {
    case deposit = "DEPOSIT"
    case depositBonus = "DEPOSIT_BONUS"
    case welcomeBonus = "WELCOME_BONUS"
    case vpsOrder = "VPS_ORDER"
    case vpsRenewal = "VPS_RENEWAL"
    case provisionFailedRefund = "PROVISION_FAILED_REFUND"
    case adminAdjustment = "ADMIN_ADJUSTMENT"
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

/// The `wallets` and `ledger_entries` tables. Reads here (the API's balance and history);
/// postings are the payments worker's (`Wallet`, `Ledger+Writes`), the only way money moves.
public enum Ledger {
    /// The current balance; a customer without a wallet has 0.
    public static func balance(of customerId: String, on connection: PGConnection) throws -> Int64 {
        try connection.query("SELECT balance FROM wallets WHERE customer_id = $1", customerId).first?.decode("balance") ?? 0
    }

    /// Ledger entries newest first, `after` the id cursor from the previous page.
    public static func entries(customerId: String, before cursor: Int64?, limit: Int, on connection: PGConnection) throws
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
}
