import ArmadaTestSupport
import Foundation
import Logging
import Postgres
import Testing
import Wallet
import WalletContracts

/// `armadactl audit` against a database of the test's own: books kept through the real ledger
/// code pass; each way of breaking them is named, with the row at fault.
@Suite("armadactl audit and the append-only ledger")
struct AuditTests {
    static let armadactl = TestEnvironment.binDirectory.appendingPathComponent("armadactl").path

    static func audit(_ url: String) async throws -> (status: Int32, output: String) {
        try await ChildProcess.run(armadactl, ["audit"], environment: ["DATABASE_URL": url])
    }

    /// A PAID deposit credited through the ledger, with its bonus.
    static func paidDeposit(_ customer: String, amount: Int64, bonus: Int64, on connection: PGConnection) throws -> UUID {
        let id = UUID()
        _ = try Deposits.insert(
            NewDeposit(
                id: id, customerId: customer, amount: amount, fee: 0, method: "BRIVA", reference: "T0001AUD\(UUID().uuidString.prefix(8))",
                expiresAt: Date().addingTimeInterval(3600)),
            on: connection)
        _ = try connection.execute("UPDATE deposits SET status = 'PAID', bonus = $2 WHERE id = $1", id, bonus)
        _ = try Ledger.credit(
            customer, amount: amount, reference: .deposit, referenceId: id.uuidString.lowercased(), description: "d", on: connection)
        if bonus > 0 {
            _ = try Ledger.credit(
                customer, amount: bonus, reference: .depositBonus, referenceId: id.uuidString.lowercased(), description: "b", on: connection
            )
        }
        return id
    }

    @Test(
        "books kept through the ledger pass; a tampered balance, a broken chain, an uncredited deposit and a stuck command are each named")
    func invariants() async throws {
        let scratch = try await ScratchDatabase.make("audit")
        defer { Task { await scratch.drop() } }
        let (url, pool) = (scratch.url, scratch.pool)
        let empty = try await Self.audit(url)
        #expect(empty.status == 0 && empty.output.contains("every invariant holds"), "\(empty.output)")

        let (alice, bob) = ("audit-alice", "audit-bob")
        try await pool.transaction { connection in
            _ = try Self.paidDeposit(alice, amount: 100_000, bonus: 10_000, on: connection)
            _ = try Self.paidDeposit(bob, amount: 50_000, bonus: 0, on: connection)
            _ = try Ledger.debit(alice, amount: 30_000, reference: .adminAdjustment, referenceId: "adj-1", description: "a", on: connection)
        }
        let kept = try await Self.audit(url)
        #expect(kept.status == 0, "\(kept.output)")
        #expect(kept.output.components(separatedBy: "\n").filter { $0.hasPrefix("OK") }.count == 13, "\(kept.output)")

        // Each break, one at a time, named with its row.
        try await pool.withConnection { try $0.execute("UPDATE wallets SET balance = balance + 1 WHERE customer_id = $1", bob) }
        let tampered = try await Self.audit(url)
        #expect(tampered.status == 1)
        #expect(tampered.output.contains("BROKEN ledger-sums-to-balance"), "\(tampered.output)")
        #expect(tampered.output.contains("audit-bob: balance 50001, ledger 50000"), "\(tampered.output)")
        try await pool.withConnection { try $0.execute("UPDATE wallets SET balance = balance - 1 WHERE customer_id = $1", bob) }

        let unpaid = UUID()
        try await pool.transaction { connection in
            _ = try Deposits.insert(
                NewDeposit(
                    id: unpaid, customerId: bob, amount: 20_000, fee: 0, method: "BRIVA", reference: "T0001AUDUNPAID",
                    expiresAt: Date().addingTimeInterval(3600)),
                on: connection)
            _ = try connection.execute("UPDATE deposits SET status = 'PAID' WHERE id = $1", unpaid)
            _ = try connection.execute(
                """
                INSERT INTO commands (id, customer_id, idempotency_key, command_type, request_hash, created_at)
                VALUES ($1, $2, 'k-stuck', 'payments.create-deposit', 'h', now() - interval '3 hours')
                """, UUID(), bob)
        }
        let broken = try await Self.audit(url)
        #expect(broken.status == 1)
        #expect(broken.output.contains("BROKEN paid-deposit-credited-once"), "\(broken.output)")
        #expect(broken.output.contains("deposit \(unpaid.uuidString.lowercased()) (T0001AUDUNPAID) PAID, credited nothing of 20000"))
        #expect(broken.output.contains("BROKEN commands-settled"), "\(broken.output)")
        #expect(broken.output.contains("OK     ledger-sums-to-balance"), "\(broken.output)")
        #expect(broken.output.contains("2 invariant(s) broken"), "\(broken.output)")

        // An entry written past the ledger code, starting from a balance its predecessor did not
        // end with (the wallet moved with it, so the sums still agree): only the chain shows it.
        try await pool.transaction { connection in
            _ = try connection.execute(
                """
                INSERT INTO ledger_entries (customer_id, entry_type, amount, balance_before, balance_after, reference_type, reference_id)
                VALUES ($1, 'CREDIT', 1, 80005, 80006, 'ADMIN_ADJUSTMENT', 'forged')
                """, alice)
            _ = try connection.execute("UPDATE wallets SET balance = balance + 1 WHERE customer_id = $1", alice)
        }
        let forged = try await Self.audit(url)
        #expect(forged.status == 1)
        #expect(forged.output.contains("BROKEN ledger-chain"), "\(forged.output)")
        #expect(forged.output.contains("before 80005, previous after 80000"), "\(forged.output)")
        #expect(forged.output.contains("OK     ledger-sums-to-balance"), "\(forged.output)")
        #expect(forged.output.contains("3 invariant(s) broken"), "\(forged.output)")

        // An order an admin retried: round 2 is up and charged, but round 1's charge was never
        // refunded, so the customer paid twice. The order's own state looks fine.
        let order = UUID()
        try await pool.transaction { connection in
            _ = try connection.execute(
                """
                INSERT INTO orders (id, customer_id, plan_id, plan_name, size_slug, image, region, billing_period, price, hostname,
                                    status, provisioning_round, droplet_id)
                VALUES ($1, $2, '6a1f0c3e-0b7d-5b0e-9a51-000000000001', 'basic', 's-1vcpu-1gb', 'ubuntu-24-04-x64', 'sgp1', 'MONTHLY',
                        20000, 'audit-1', 'ACTIVE', 2, 42)
                """, order, alice)
            let id = order.uuidString.lowercased()
            for reference in [id, id + ":r2"] {
                _ = try Ledger.debit(alice, amount: 20_000, reference: .vpsOrder, referenceId: reference, description: "o", on: connection)
            }
        }
        let twice = try await Self.audit(url)
        #expect(twice.output.contains("BROKEN failed-round-refunded-once"), "\(twice.output)")
        #expect(
            twice.output.contains(
                "order \(order.uuidString.lowercased()) ACTIVE round \(order.uuidString.lowercased()): debit -20000, refund none"),
            "\(twice.output)")
        #expect(twice.output.contains("OK     paid-order-charged") && twice.output.contains("4 invariant(s) broken"), "\(twice.output)")
    }

    @Test("the ledger refuses UPDATE and DELETE in the database itself; new entries still go in")
    func appendOnly() async throws {
        let scratch = try await ScratchDatabase.make("ledger")
        defer { Task { await scratch.drop() } }
        let pool = scratch.pool
        try await pool.transaction { connection in
            _ = try Self.paidDeposit("audit-carol", amount: 10_000, bonus: 0, on: connection)
        }
        for statement in [
            "UPDATE ledger_entries SET amount = amount + 1, balance_after = balance_after + 1",
            "UPDATE ledger_entries SET description = 'edited'", "DELETE FROM ledger_entries",
        ] {
            await #expect(throws: PostgresError.self, "\(statement)") {
                try await pool.withConnection { _ = try $0.execute(statement) }
            }
        }
        let error = await #expect(throws: PostgresError.self) {
            try await pool.withConnection { _ = try $0.execute("DELETE FROM ledger_entries") }
        }
        #expect(error?.sqlState == "42501", "insufficient_privilege: \(String(describing: error))")
        #expect("\(String(describing: error))".contains("ledger_entries is append-only"))
        let count = try await pool.withConnection {
            try $0.query("SELECT count(*)::int AS n FROM ledger_entries").first?.decode("n", as: Int.self)
        }
        #expect(count == 1, "nothing changed")
        try await pool.transaction { connection in
            _ = try Ledger.credit(
                "audit-carol", amount: 500, reference: .adminAdjustment, referenceId: "adj-carol", description: "c", on: connection)
        }
        let after = try await pool.withConnection {
            try $0.query("SELECT count(*)::int AS n FROM ledger_entries").first?.decode("n", as: Int.self)
        }
        #expect(after == 2)
    }
}
