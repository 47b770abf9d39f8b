import Foundation
import Messaging
import Postgres
import Retriability
import WalletContracts

public struct LedgerEntry: Sendable, Equatable {
    public var id: Int64
    public var customerId: String
    /// Signed: positive for a credit, negative for a debit.
    public var amount: Int64
    public var balanceBefore: Int64
    public var balanceAfter: Int64
    public var referenceType: LedgerReference
    public var referenceId: String
}

/// The outcome of a credit or debit: applied now, or found applied earlier for the same reference.
public enum LedgerPosting: Sendable, Equatable {
    case applied(LedgerEntry)
    case alreadyApplied(LedgerEntry)

    public var entry: LedgerEntry {
        switch self {
        case .applied(let entry), .alreadyApplied(let entry): return entry
        }
    }
}

public enum WalletError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidAmount(Int64)
    case insufficientBalance(balance: Int64, required: Int64)

    public var code: ErrorCode {
        switch self {
        case .invalidAmount: return .invalidAmount
        case .insufficientBalance: return .insufficientBalance
        }
    }

    public var rejection: Rejection { Rejection(code, description) }

    public var description: String {
        switch self {
        case .invalidAmount(let amount): return "amount must be positive, got \(amount)"
        case .insufficientBalance(let balance, let required):
            return "balance \(balance) is less than the required \(required) (deficit \(required - balance))"
        }
    }
}

/// A posting that contradicts the ledger (the same reference for another customer or amount,
/// an overflow): never retried, dead-lettered for an operator.
public struct LedgerIntegrityError: Error, RetryClassifiable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
    public var isRetriable: Bool { false }
}

/// Postings to the wallet ledger. Every change of a balance is one append-only entry, written
/// in the caller's transaction; the wallet row is locked (`FOR UPDATE`) first, so concurrent
/// postings on one wallet serialize, and `(reference_type, reference_id)` is unique, so the same
/// deposit or order is never posted twice. The database also refuses a negative balance.
extension Ledger {
    public static func credit(
        _ customerId: String, amount: Int64, reference: LedgerReference, referenceId: String, description: String,
        metadata: String = "{}", on connection: PGConnection
    ) throws -> LedgerPosting {
        try post(
            customerId, amount: amount, reference: reference, referenceId: referenceId, description: description, metadata: metadata,
            on: connection)
    }

    /// Throws `WalletError.insufficientBalance` when the balance does not cover `amount`.
    public static func debit(
        _ customerId: String, amount: Int64, reference: LedgerReference, referenceId: String, description: String,
        metadata: String = "{}", on connection: PGConnection
    ) throws -> LedgerPosting {
        try post(
            customerId, amount: -amount, reference: reference, referenceId: referenceId, description: description, metadata: metadata,
            on: connection, requested: amount)
    }

    private static func post(
        _ customerId: String, amount signed: Int64, reference: LedgerReference, referenceId: String, description: String,
        metadata: String, on connection: PGConnection, requested: Int64? = nil
    ) throws -> LedgerPosting {
        let magnitude = requested ?? signed
        guard magnitude > 0 else { throw WalletError.invalidAmount(magnitude) }
        let balance = try lockWallet(customerId, on: connection)
        let (after, overflow) = balance.addingReportingOverflow(signed)
        if overflow || after < 0 {
            // A posting applied earlier is answered as such, whatever the balance is now.
            if let existing = try sameEntry(customerId, amount: signed, reference: reference, referenceId: referenceId, on: connection) {
                return .alreadyApplied(existing)
            }
            guard !overflow else { throw LedgerIntegrityError("balance \(balance) + \(signed) overflows") }
            throw WalletError.insufficientBalance(balance: balance, required: magnitude)
        }
        // The entry and the new balance in one statement (one round trip on the hot path): the
        // wallet is updated only when the entry was inserted, and an entry for the same
        // reference already there inserts nothing, so the wallet stays as it is.
        let inserted = try connection.query(
            """
            WITH entry AS (
                INSERT INTO ledger_entries
                    (customer_id, entry_type, amount, balance_before, balance_after, reference_type, reference_id, description, metadata)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
                ON CONFLICT (reference_type, reference_id) DO NOTHING
                RETURNING id
            ), wallet AS (
                UPDATE wallets SET balance = $5, updated_at = now() FROM entry WHERE customer_id = $1
            )
            SELECT id FROM entry
            """,
            customerId, signed > 0 ? "CREDIT" : "DEBIT", signed, balance, after, reference.rawValue, referenceId, description, metadata
        ).first
        guard let inserted else {
            guard let existing = try sameEntry(customerId, amount: signed, reference: reference, referenceId: referenceId, on: connection)
            else {
                throw PostgresError(
                    kind: .server, message: "ledger entry for \(reference.rawValue) \(referenceId) neither inserted nor found")
            }
            return .alreadyApplied(existing)
        }
        return .applied(
            LedgerEntry(
                id: try inserted.decode("id"), customerId: customerId, amount: signed, balanceBefore: balance, balanceAfter: after,
                referenceType: reference, referenceId: referenceId))
    }

    /// Locks the customer's wallet (`FOR UPDATE`), creating it at zero the first time, and
    /// returns its balance. One statement when the wallet exists.
    private static func lockWallet(_ customerId: String, on connection: PGConnection) throws -> Int64 {
        let lock = "SELECT balance FROM wallets WHERE customer_id = $1 FOR UPDATE"
        if let row = try connection.query(lock, customerId).first { return try row.decode("balance") }
        try connection.execute("INSERT INTO wallets (customer_id) VALUES ($1) ON CONFLICT DO NOTHING", customerId)
        guard let row = try connection.query(lock, customerId).first
        else { throw PostgresError(kind: .server, message: "wallet of \(customerId) missing right after insert") }
        return try row.decode("balance")
    }

    /// The entry already posted for this reference, if any. The same reference is the same
    /// posting only for the same customer and amount; anything else is a bug or tampering,
    /// which an operator must see.
    private static func sameEntry(
        _ customerId: String, amount signed: Int64, reference: LedgerReference, referenceId: String, on connection: PGConnection
    ) throws -> LedgerEntry? {
        guard let existing = try entry(reference: reference, referenceId: referenceId, on: connection) else { return nil }
        guard existing.customerId == customerId, existing.amount == signed else {
            throw LedgerIntegrityError(
                "\(reference.rawValue) \(referenceId) was posted as \(existing.amount) for \(existing.customerId); now asked \(signed) for \(customerId)"
            )
        }
        return existing
    }

    public static func entry(reference: LedgerReference, referenceId: String, on connection: PGConnection) throws -> LedgerEntry? {
        guard
            let row = try connection.query(
                """
                SELECT id, customer_id, amount, balance_before, balance_after FROM ledger_entries
                WHERE reference_type = $1 AND reference_id = $2
                """, reference.rawValue, referenceId
            ).first
        else { return nil }
        return LedgerEntry(
            id: try row.decode("id"), customerId: try row.decode("customer_id"), amount: try row.decode("amount"),
            balanceBefore: try row.decode("balance_before"), balanceAfter: try row.decode("balance_after"),
            referenceType: reference, referenceId: referenceId)
    }
}
