import AMQP
import ArmadaTestSupport
import Foundation
import Logging
import Postgres
import Testing

@testable import Messaging

struct NobodyRoutes: MessageBody {
    static let messageType = "test.nobody-routes-this"
    static let exchange = Exchange.commands
    var key: String
}

@Suite("Outbox relay limits and retention against a real RabbitMQ and PostgreSQL", .timeLimit(.minutes(2)))
struct OutboxAndRetentionTests {
    let pool = TestDatabase.pool(size: 4, name: "outbox-tests")

    func row(_ id: UUID) async throws -> (attempts: Int, published: Bool, error: String?) {
        try await pool.withConnection { connection in
            guard
                let row = try connection.query(
                    "SELECT attempts, published_at IS NOT NULL AS p, last_error FROM outbox WHERE message_id = $1", id
                ).first
            else { throw TestFailure("no outbox row \(id)") }
            return (try row.decode("attempts"), try row.decode("p"), try row.decode("last_error"))
        }
    }

    // Every relay sharing the test database (the end-to-end workers') may take these rows too;
    // the assertions hold whichever relay did.
    @Test("a row the broker refuses is not published, backs off with its error, and at the cap no relay tries it again")
    func refusedRowCapped() async throws {
        let broker = try await plainClient("outbox-refusals")
        let relay = OutboxRelay(pool: pool, broker: broker, logger: Logger(label: "t"))
        let id = UUID()
        try await pool.transaction { connection in
            try Outbox.enqueue(Envelope(id: id, data: NobodyRoutes(key: "k"), occurredAt: Date()), on: connection)
        }
        await relay.publishPending()
        let refused = await eventually { (try? await row(id))?.attempts ?? 0 >= 1 }
        #expect(refused)
        let first = try await row(id)
        #expect(!first.published, "a command nobody consumes is refused (unroutable)")
        #expect(first.error?.contains("unroutable") == true)
        // A refusal holds the row for a backoff (1 s after the first); a failure for want of a
        // connection frees it (NULL). The backoff's length is not asserted: a loaded machine can
        // take longer than a second between the refusal and this query.
        let backingOff = try await pool.withConnection {
            try $0.query("SELECT claimed_until IS NOT NULL AS b FROM outbox WHERE message_id = $1", id).first?.decode("b", as: Bool.self)
        }
        #expect(backingOff == true)
        // At the cap (50 refusals) it is an operator's: free to claim, yet nobody takes it.
        try await pool.withConnection {
            try $0.execute("UPDATE outbox SET attempts = 50, claimed_until = NULL, last_error = 'capped' WHERE message_id = $1", id)
        }
        await relay.publishPending()
        let capped = try await row(id)
        #expect(capped.attempts == 50 && capped.error == "capped" && !capped.published)
        #expect(try await pool.withConnection { try Outbox.backlog(maxRefusals: 50, on: $0) }.stuck >= 1)
        try await pool.withConnection { try $0.execute("DELETE FROM outbox WHERE message_id = $1", id) }
        await broker.close()
    }

    @Test("a failure for want of a connection is not a refusal: no attempt counted, the row free for the next sweep")
    func outageIsNotARefusal() async throws {
        let id = UUID()
        try await pool.transaction { connection in
            try Outbox.enqueue(Envelope(id: id, data: NobodyRoutes(key: "k"), occurredAt: Date()), on: connection)
            try connection.execute("UPDATE outbox SET claimed_until = now() + interval '30 seconds' WHERE message_id = $1", id)
        }
        let rowId: Int64 = try await pool.withConnection {
            guard let row = try $0.query("SELECT id FROM outbox WHERE message_id = $1", id).first else { throw TestFailure("no row") }
            return try row.decode("id")
        }
        // In one transaction: the row stays locked, so no other relay (SKIP LOCKED) claims it between.
        let (attempts, free) = try await pool.transaction { connection in
            (
                try Outbox.markFailed(rowId, error: "AMQP notConnected", refused: false, on: connection),
                try connection.query("SELECT claimed_until IS NULL AS free FROM outbox WHERE id = $1", rowId).first?.decode(
                    "free", as: Bool.self)
            )
        }
        #expect(attempts == 0)
        #expect(free == true)
        try await pool.withConnection { try $0.execute("DELETE FROM outbox WHERE message_id = $1", id) }
    }

    @Test("retention prunes inbox and published outbox rows older than the cutoff, and keeps the rest")
    func retentionPrunes() async throws {
        let (old, recent, unpublished) = (UUID(), UUID(), UUID())
        let consumer = TestEnvironment.unique("retention")
        try await pool.transaction { connection in
            for (id, age) in [(old, "40 days"), (recent, "1 day")] {
                try connection.execute(
                    "INSERT INTO inbox (consumer, message_id, message_type, processed_at) VALUES ($1, $2, 't', now() - $3::interval)",
                    consumer, id, age)
                try connection.execute(
                    """
                    INSERT INTO outbox (message_id, exchange, routing_key, message_type, body, published_at)
                    VALUES ($1, '', 't', 't', '{}', now() - $2::interval)
                    """, id, age)
            }
            try connection.execute(
                "INSERT INTO outbox (message_id, exchange, routing_key, message_type, body, created_at) VALUES ($1, '', 't', 't', '{}', now() - interval '40 days')",
                unpublished)
        }
        let job = Retention.job(name: TestEnvironment.unique("retention.test"), pool: pool, keep: .seconds(30 * 86_400))
        #expect(await PeriodicService(job: job, pool: pool, holder: "t", logger: Logger(label: "t")).runOnce())
        let remaining = try await pool.withConnection { connection in
            (
                try connection.query("SELECT message_id FROM inbox WHERE consumer = $1", consumer).map {
                    try $0.decode("message_id", as: UUID.self)
                },
                try connection.query(
                    "SELECT message_id FROM outbox WHERE message_id = ANY($1::uuid[]) ORDER BY id",
                    "{\(old.uuidString),\(recent.uuidString),\(unpublished.uuidString)}"
                ).map { try $0.decode("message_id", as: UUID.self) }
            )
        }
        #expect(remaining.0 == [recent])
        #expect(Set(remaining.1) == [recent, unpublished], "an unpublished row is never pruned, however old")
        try await pool.withConnection {
            try $0.execute("DELETE FROM outbox WHERE message_id = ANY($1::uuid[])", "{\(recent.uuidString),\(unpublished.uuidString)}")
        }
    }
}
