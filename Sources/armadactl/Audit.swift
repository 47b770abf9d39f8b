import ArgumentParser
import Foundation
import Postgres

/// `armadactl audit`: the books and the work checked against each other, read only, one
/// set-based query per invariant (fast on large tables: each is a join or an anti-join on
/// indexed columns). Exit 1 when any invariant breaks, with examples of the rows at fault.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the invariants: ledgers, deposits, orders, refunds, droplets, commands, notifications, the outbox.",
        discussion: """
            Read only (one READ ONLY REPEATABLE READ transaction, so every check sees the same moment). \
            Exit 0 when every invariant holds, 1 when one breaks (each broken one is listed with up to \
            --examples rows). Work still in flight is not a break: a command pending for less than \
            --settle-minutes, a delivery still queued, an outbox row younger than that.
            """)

    @Option(help: "Rows shown per broken invariant.") var examples: Int = 5
    @Option(help: "How long work may still be in flight before it counts as unexplained.") var settleMinutes: Int = 60
    @Flag(help: "Print the result as JSON.") var json = false

    struct Check: Sendable {
        var name: String
        var why: String
        /// Rows that break the invariant: a `detail` text column, and `n`, the total count, on every row.
        var sql: String
    }

    struct Result: Codable, Sendable {
        var name: String
        var why: String
        var broken: Int
        var examples: [String]
    }

    static func checks(settleMinutes: Int) -> [Check] {
        let settle = "make_interval(mins => \(settleMinutes))"
        return [
            Check(
                name: "ledger-sums-to-balance", why: "every wallet's balance is the sum of its ledger",
                sql: """
                    SELECT format('%s: balance %s, ledger %s', w.customer_id, w.balance, COALESCE(l.total, 0)) AS detail
                    FROM wallets w LEFT JOIN (SELECT customer_id, sum(amount) AS total FROM ledger_entries GROUP BY customer_id) l
                      USING (customer_id)
                    WHERE w.balance <> COALESCE(l.total, 0)
                    """),
            Check(
                name: "ledger-chain", why: "each entry starts from the balance the previous one ended with (no entry lost or altered)",
                sql: """
                    SELECT format('%s entry %s: before %s, previous after %s', customer_id, id, balance_before, COALESCE(previous, 0)) AS detail
                    FROM (SELECT customer_id, id, balance_before,
                                 lag(balance_after) OVER (PARTITION BY customer_id ORDER BY id) AS previous
                          FROM ledger_entries) chain
                    WHERE balance_before <> COALESCE(previous, 0)
                    """),
            Check(
                name: "no-negative-balance", why: "no wallet and no ledger entry below zero",
                sql: """
                    SELECT format('wallet %s: %s', customer_id, balance) AS detail FROM wallets WHERE balance < 0
                    UNION ALL
                    SELECT format('entry %s of %s: after %s', id, customer_id, balance_after) FROM ledger_entries WHERE balance_after < 0
                    """),
            Check(
                name: "paid-deposit-credited-once", why: "every PAID deposit credited exactly its amount, once",
                sql: """
                    SELECT format('deposit %s (%s) PAID, credited %s of %s', d.id, d.reference, COALESCE(e.amount::text, 'nothing'), d.amount) AS detail
                    FROM deposits d
                    LEFT JOIN ledger_entries e ON e.reference_type = 'DEPOSIT' AND e.reference_id = d.id::text
                    WHERE d.status = 'PAID' AND (e.id IS NULL OR e.amount <> d.amount OR e.customer_id <> d.customer_id)
                    """),
            Check(
                name: "credit-only-for-paid-deposit", why: "no deposit credit or bonus without a PAID deposit of that customer",
                sql: """
                    SELECT format('%s %s of %s: deposit %s', e.reference_type, e.amount, e.customer_id, COALESCE(d.status, 'missing')) AS detail
                    FROM ledger_entries e
                    LEFT JOIN deposits d ON d.id::text = e.reference_id AND d.customer_id = e.customer_id
                    WHERE e.reference_type IN ('DEPOSIT', 'DEPOSIT_BONUS') AND (d.id IS NULL OR d.status <> 'PAID')
                    """),
            Check(
                name: "bonus-as-promised", why: "a deposit's bonus credit equals the bonus recorded on it",
                sql: """
                    SELECT format('deposit %s: bonus %s, credited %s', d.id, d.bonus, COALESCE(e.amount, 0)) AS detail
                    FROM deposits d
                    LEFT JOIN ledger_entries e ON e.reference_type = 'DEPOSIT_BONUS' AND e.reference_id = d.id::text
                    WHERE d.status = 'PAID' AND COALESCE(e.amount, 0) <> d.bonus
                    """),
            Check(
                name: "paid-order-charged", why: "every order past payment was charged for its provisioning round",
                sql: """
                    SELECT format('order %s %s: no VPS_ORDER debit %s', o.id, o.status, r.reference) AS detail
                    FROM orders o
                    CROSS JOIN LATERAL (SELECT CASE WHEN o.provisioning_round = 1 THEN o.id::text
                                                    ELSE o.id::text || ':r' || o.provisioning_round END AS reference) r
                    WHERE o.status IN ('PROCESSING', 'PROVISIONING', 'ACTIVE', 'EXPIRING_SOON', 'SUSPENDED')
                      AND NOT EXISTS (SELECT 1 FROM ledger_entries e
                                      WHERE e.reference_type = 'VPS_ORDER' AND e.reference_id = r.reference AND e.amount = -o.price)
                    """),
            Check(
                name: "failed-round-refunded-once",
                why:
                    "every charged provisioning round that failed (the order FAILED, or an earlier round an admin retried) is refunded exactly its debit, once",
                sql: """
                    SELECT format('order %s %s round %s: debit %s, refund %s', o.id, o.status, debit.reference_id, debit.amount,
                                  COALESCE(refund.amount::text, 'none')) AS detail
                    FROM ledger_entries debit
                    JOIN orders o ON o.id::text = split_part(debit.reference_id, ':', 1)
                    LEFT JOIN ledger_entries refund
                      ON refund.reference_type = 'PROVISION_FAILED_REFUND' AND refund.reference_id = debit.reference_id
                    WHERE debit.reference_type = 'VPS_ORDER'
                      AND (o.status = 'FAILED' OR debit.reference_id <> CASE WHEN o.provisioning_round = 1 THEN o.id::text
                                                                          ELSE o.id::text || ':r' || o.provisioning_round END)
                      AND (refund.id IS NULL OR refund.amount <> -debit.amount)
                    """),
            Check(
                name: "refund-only-for-failed-round", why: "a refund matches a debit of the same round and that round failed",
                sql: """
                    SELECT format('refund %s of %s: %s', refund.reference_id, refund.amount, CASE WHEN debit.id IS NULL THEN 'no debit'
                           WHEN refund.amount <> -debit.amount THEN 'debit ' || debit.amount ELSE 'order ' || COALESCE(o.status, 'missing') END) AS detail
                    FROM ledger_entries refund
                    LEFT JOIN ledger_entries debit ON debit.reference_type = 'VPS_ORDER' AND debit.reference_id = refund.reference_id
                    LEFT JOIN orders o ON o.id::text = split_part(refund.reference_id, ':', 1)
                    WHERE refund.reference_type = 'PROVISION_FAILED_REFUND'
                      AND (debit.id IS NULL OR refund.amount <> -debit.amount
                           OR (o.status IS DISTINCT FROM 'FAILED' AND refund.reference_id = CASE WHEN o.provisioning_round = 1 THEN o.id::text
                               ELSE o.id::text || ':r' || o.provisioning_round END))
                    """),
            Check(
                name: "one-droplet-per-order", why: "no droplet belongs to two orders; every live provisioned order has its droplet",
                sql: """
                    SELECT format('droplet %s on account %s: orders %s', droplet_id, do_account_id, string_agg(id::text, ', ')) AS detail
                    FROM orders WHERE droplet_id IS NOT NULL GROUP BY do_account_id, droplet_id HAVING count(*) > 1
                    UNION ALL
                    SELECT format('order %s %s without a droplet', id, status) FROM orders
                    WHERE status IN ('ACTIVE', 'EXPIRING_SOON', 'SUSPENDED') AND droplet_id IS NULL
                    """),
            Check(
                name: "commands-settled",
                why: "every accepted command took effect or failed (none pending past the settle time, none stalled in a dead letter)",
                sql: """
                    SELECT format('command %s %s of %s %s since %s', id, command_type, customer_id, status, created_at) AS detail
                    FROM commands WHERE (status = 'pending' AND created_at < now() - \(settle)) OR status = 'stalled'
                    """),
            Check(
                name: "notifications-settled", why: "every delivery sent once or failed with its error (none queued past the settle time)",
                sql: """
                    SELECT format('%s delivery %s queued since %s (%s attempts, %s)', channel, id, created_at, attempts, COALESCE(last_error, '-')) AS detail
                    FROM notification_deliveries WHERE status = 'queued' AND created_at < now() - \(settle) - interval '27 hours'
                    UNION ALL
                    SELECT format('%s delivery %s failed without an error', channel, id) FROM notification_deliveries
                    WHERE status = 'failed' AND last_error IS NULL
                    """),
            Check(
                name: "outbox-published", why: "every committed message reached the broker (none unpublished past the settle time)",
                sql: """
                    SELECT format('outbox %s %s unpublished since %s (%s attempts, %s)', id, message_type, created_at, attempts, COALESCE(last_error, '-')) AS detail
                    FROM outbox WHERE published_at IS NULL AND created_at < now() - \(settle)
                    """),
        ]
    }

    static func run(_ checks: [Check], examples: Int, on connection: PGConnection) throws -> [Result] {
        try checks.map { check in
            let rows = try connection.query(
                "SELECT detail, count(*) OVER ()::int AS n FROM (\(check.sql)) broken ORDER BY detail LIMIT $1", examples)
            let count: Int = try rows.first?.decode("n") ?? 0
            return Result(name: check.name, why: check.why, broken: count, examples: try rows.map { try $0.decode("detail") })
        }
    }

    func run() async throws {
        let (checks, examples) = (Self.checks(settleMinutes: settleMinutes), examples)
        let results = try await Tooling().pool().withConnection { connection -> [Result] in
            try connection.transaction(isolation: .repeatableRead) { connection in
                _ = try connection.execute("SET TRANSACTION READ ONLY")
                return try Self.run(checks, examples: examples, on: connection)
            }
        }

        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        } else {
            for result in results {
                print(
                    "\(result.broken == 0 ? "OK    " : "BROKEN") \(result.name): \(result.why)\(result.broken == 0 ? "" : " — \(result.broken) row(s)")"
                )
                for example in result.examples { print("         \(example)") }
            }
            let broken = results.filter { $0.broken > 0 }.count
            print(broken == 0 ? "\nevery invariant holds" : "\n\(broken) invariant(s) broken")
        }
        if results.contains(where: { $0.broken > 0 }) { throw ExitCode(1) }
    }
}
