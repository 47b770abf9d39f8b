import ArmadaTestSupport
import Foundation
import Messaging
import Postgres
import Testing
import WalletContracts

@testable import Wallet

func ledgerSum(_ customer: String, _ pool: PostgresPool) async throws -> (sum: Int64, count: Int) {
    try await pool.withConnection { connection in
        let row = try connection.query(
            "SELECT COALESCE(sum(amount), 0)::bigint AS s, count(*)::int AS n FROM ledger_entries WHERE customer_id = $1", customer
        ).first!
        return (try row.decode("s"), try row.decode("n"))
    }
}

@Suite("Wallet ledger against a real PostgreSQL")
struct LedgerTests {
    let pool = TestDatabase.pool(size: 10, name: "ledger-tests")

    @Test("a credit is idempotent on its reference: the same deposit is credited once")
    func creditOnce() async throws {
        let customer = TestEnvironment.unique("cust")
        let deposit = UUID().uuidString
        let first = try await pool.transaction {
            try Ledger.credit(customer, amount: 150_000, reference: .deposit, referenceId: deposit, description: "t", on: $0)
        }
        let second = try await pool.transaction {
            try Ledger.credit(customer, amount: 150_000, reference: .deposit, referenceId: deposit, description: "t", on: $0)
        }
        guard case .applied(let entry) = first else { Issue.record("first credit not applied"); return }
        #expect(entry.balanceBefore == 0 && entry.balanceAfter == 150_000)
        #expect(second == .alreadyApplied(entry))
        #expect(try await pool.withConnection { try Ledger.balance(of: customer, on: $0) } == 150_000)
        #expect(try await ledgerSum(customer, pool) == (150_000, 1))
    }

    @Test("a reference already posted for another customer or amount is an integrity error, never 'already applied'; overflow traps")
    func referenceIntegrity() async throws {
        let customer = TestEnvironment.unique("cust")
        let deposit = UUID().uuidString
        _ = try await pool.transaction {
            try Ledger.credit(customer, amount: 150_000, reference: .deposit, referenceId: deposit, description: "t", on: $0)
        }
        await #expect(throws: LedgerIntegrityError.self) {
            try await pool.transaction {
                try Ledger.credit(customer, amount: 99_000, reference: .deposit, referenceId: deposit, description: "t", on: $0)
            }
        }
        await #expect(throws: LedgerIntegrityError.self) {
            try await pool.transaction {
                try Ledger.credit(
                    TestEnvironment.unique("other"), amount: 150_000, reference: .deposit, referenceId: deposit, description: "t", on: $0)
            }
        }
        #expect(classify(LedgerIntegrityError("x")) == .poison, "dead-lettered for an operator, not retried")
        await #expect(throws: LedgerIntegrityError.self) {
            try await pool.transaction {
                try Ledger.credit(
                    customer, amount: Int64.max - 10, reference: .adminAdjustment, referenceId: UUID().uuidString, description: "t", on: $0)
            }
        }
        #expect(try await pool.withConnection { try Ledger.balance(of: customer, on: $0) } == 150_000)
    }

    @Test("a debit larger than the balance fails with INSUFFICIENT_BALANCE, balance, required and deficit")
    func insufficient() async throws {
        let customer = TestEnvironment.unique("cust")
        try await pool.transaction {
            _ = try Ledger.credit(
                customer, amount: 30_000, reference: .adminAdjustment, referenceId: UUID().uuidString, description: "t", on: $0)
        }
        await #expect {
            try await pool.transaction {
                _ = try Ledger.debit(customer, amount: 50_000, reference: .vpsOrder, referenceId: "order-1", description: "t", on: $0)
            }
        } throws: { error in
            guard let error = error as? WalletError, case .insufficientBalance(let balance, let required) = error else { return false }
            return error.code == .insufficientBalance && balance == 30_000 && required == 50_000 && "\(error)".contains("deficit 20000")
        }
        #expect(try await pool.withConnection { try Ledger.balance(of: customer, on: $0) } == 30_000)
    }

    @Test("an amount of zero or less is rejected")
    func nonPositive() async throws {
        let customer = TestEnvironment.unique("cust")
        for amount: Int64 in [0, -5] {
            await #expect(throws: WalletError.invalidAmount(amount)) {
                try await pool.transaction {
                    _ = try Ledger.credit(
                        customer, amount: amount, reference: .deposit, referenceId: UUID().uuidString, description: "t", on: $0)
                }
            }
        }
    }

    @Test("the database itself refuses a negative balance")
    func databaseConstraint() async throws {
        let customer = TestEnvironment.unique("cust")
        try await pool.withConnection { try $0.execute("INSERT INTO wallets (customer_id, balance) VALUES ($1, 100)", customer) }
        await #expect {
            try await pool.withConnection { try $0.execute("UPDATE wallets SET balance = balance - 101 WHERE customer_id = $1", customer) }
        } throws: { ($0 as? PostgresError)?.sqlState == PostgresError.checkViolation }
    }

    @Test("100 concurrent debits against a balance that pays for 10: exactly 10 succeed and the ledger sums to the balance")
    func concurrentDebits() async throws {
        let customer = TestEnvironment.unique("cust")
        let price: Int64 = 50_000
        try await pool.transaction {
            _ = try Ledger.credit(
                customer, amount: price * 10, reference: .deposit, referenceId: UUID().uuidString, description: "seed", on: $0)
        }
        let outcomes = Shared<[String: Int]>([:])
        await withTaskGroup(of: Void.self) { group in
            for order in 0..<100 {
                group.addTask {
                    do {
                        _ = try await pool.transaction {
                            try Ledger.debit(
                                customer, amount: price, reference: .vpsOrder, referenceId: "\(customer)-order-\(order)",
                                description: "order", on: $0)
                        }
                        outcomes.update { $0["ok", default: 0] += 1 }
                    } catch let error as WalletError where error.code == .insufficientBalance {
                        outcomes.update { $0["insufficient", default: 0] += 1 }
                    } catch {
                        outcomes.update { $0["other: \(error)", default: 0] += 1 }
                    }
                }
            }
        }
        #expect(outcomes.value["ok"] == 10)
        #expect(outcomes.value["insufficient"] == 90)
        let balance = try await pool.withConnection { try Ledger.balance(of: customer, on: $0) }
        #expect(balance == 0)
        let (sum, count) = try await ledgerSum(customer, pool)
        #expect(sum == balance)
        #expect(count == 11)
    }

    @Test("debiting the same order twice charges once")
    func debitOnce() async throws {
        let customer = TestEnvironment.unique("cust")
        try await pool.transaction {
            _ = try Ledger.credit(customer, amount: 100_000, reference: .deposit, referenceId: UUID().uuidString, description: "t", on: $0)
        }
        for _ in 0..<3 {
            _ = try await pool.transaction {
                try Ledger.debit(customer, amount: 40_000, reference: .vpsOrder, referenceId: "\(customer)-o", description: "t", on: $0)
            }
        }
        #expect(try await pool.withConnection { try Ledger.balance(of: customer, on: $0) } == 60_000)
    }
}
