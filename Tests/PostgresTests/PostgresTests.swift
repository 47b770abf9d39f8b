import ArmadaTestSupport
import Foundation
import Logging
import Postgres
import Testing

struct Boom: Error {}

func makePool(size: Int = 4) -> PostgresPool {
    PostgresPool(
        connectionString: TestEnvironment.databaseURL, size: size, applicationName: "postgres-tests", logger: Logger(label: "test.pg"))
}

@Suite("Postgres wrapper against a real PostgreSQL")
struct PostgresTests {
    @Test("parameters bind quotes, backslashes, unicode and NULL as data, never as SQL")
    func parameterBinding() async throws {
        let pool = makePool()
        let tricky = "O'Brien \"quoted\" \\ back; DROP TABLE x; -- ✓ 日本語 🚀"
        let row = try await pool.withConnection { connection in
            try connection.query(
                "SELECT $1::text AS s, $2::bigint AS n, $3::text AS missing, $4::bool AS b, $5::bytea AS raw, $6::uuid AS id",
                tricky, Int64.max, String?.none, true, [UInt8]([0, 1, 0xfe, 0xff]),
                UUID(uuidString: "6f1e2b1c-1111-4a4a-8b8b-123456789abc")!
            ).first!
        }
        #expect(try row.decode("s", as: String.self) == tricky)
        #expect(try row.decode("n", as: Int64.self) == Int64.max)
        #expect(try row.decode("missing", as: String?.self) == nil)
        #expect(try row.decode("b", as: Bool.self))
        #expect(try row.decode("raw", as: [UInt8].self) == [0, 1, 0xfe, 0xff])
        #expect(try row.decode("id", as: UUID.self) == UUID(uuidString: "6f1e2b1c-1111-4a4a-8b8b-123456789abc")!)
        // Decoding NULL into a non-optional is an error, not a default.
        #expect(throws: PostgresError.self) { try row.decode("missing", as: String.self) }
    }

    @Test("timestamps round-trip through timestamptz to the microsecond")
    func timestamps() async throws {
        let pool = makePool()
        let moment = Date(timeIntervalSince1970: 1_764_084_024.123456)
        let back = try await pool.withConnection { connection in
            try connection.query("SELECT $1::timestamptz AS t", moment).first!.decode("t", as: Date.self)
        }
        #expect(abs(back.timeIntervalSince1970 - moment.timeIntervalSince1970) < 0.000_002)
    }

    @Test("a server error carries its SQLSTATE and constraint")
    func errorsCarrySQLState() async throws {
        let pool = makePool()
        let table = "t_" + TestEnvironment.unique("err").replacingOccurrences(of: "-", with: "_")
        await #expect {
            try await pool.withConnection { connection in
                try connection.execute("CREATE TEMP TABLE \(table) (id int PRIMARY KEY)")
                try connection.execute("INSERT INTO \(table) VALUES ($1)", 1)
                try connection.execute("INSERT INTO \(table) VALUES ($1)", 1)
            }
        } throws: { error in
            let pg = error as? PostgresError
            return pg?.sqlState == PostgresError.uniqueViolation && pg?.constraint == "\(table)_pkey" && pg?.isRetriable == false
        }
        await #expect {
            try await pool.withConnection { try $0.execute("SELEC 1") }
        } throws: { ($0 as? PostgresError)?.sqlState == "42601" }
    }

    @Test("a transaction that throws is rolled back")
    func rollback() async throws {
        let pool = makePool()
        let table = "rb_" + TestEnvironment.unique("t").replacingOccurrences(of: "-", with: "_")
        try await pool.withConnection { try $0.execute("CREATE TABLE \(table) (v int)") }
        await #expect(throws: Boom.self) {
            try await pool.transaction { connection in
                try connection.execute("INSERT INTO \(table) VALUES (1)")
                throw Boom()
            }
        }
        let count = try await pool.withConnection { try $0.query("SELECT count(*) AS c FROM \(table)").first!.decode("c", as: Int.self) }
        #expect(count == 0)
        try await pool.withConnection { try $0.execute("DROP TABLE \(table)") }
    }

    @Test("an array parameter carries quotes, backslashes, commas, braces, unicode and NULL as data")
    func arrayParameter() async throws {
        let pool = makePool(size: 1)
        let values: [String?] = ["plain", "O'Brien \"q\" \\ back", "a,b", "{x}", "NULL", "", "日本語 🚀", nil, #"{"json": "body\n"}"#]
        let back: [String?] = try await pool.withConnection { connection in
            try connection.query(
                "SELECT value FROM unnest($1::text[]) WITH ORDINALITY AS t (value, position) ORDER BY position",
                PostgresArray(values)
            ).map { try $0.decode("value", as: String?.self) }
        }
        #expect(back == values)
        let ids = [UUID(), UUID()]
        let (uuids, empty): ([UUID], Int) = try await pool.withConnection { connection in
            (
                try connection.query("SELECT unnest($1::uuid[]) AS id", PostgresArray(ids)).map { try $0.decode("id", as: UUID.self) },
                try connection.query("SELECT cardinality($1::text[]) AS n", PostgresArray([String]())).first!.decode("n", as: Int.self)
            )
        }
        #expect(uuids == ids)
        #expect(empty == 0)
    }

    @Test("a queued write is sent with the next statement, in order, and seen by it")
    func queuedWriteSentWithNextStatement() async throws {
        let pool = makePool(size: 1)
        let table = "q_" + TestEnvironment.unique("t").replacingOccurrences(of: "-", with: "_")
        try await pool.withConnection { try $0.execute("CREATE TABLE \(table) (position serial, v int PRIMARY KEY)") }
        let (queued, seen, outside) = try await pool.transaction { connection in
            try connection.executeLater("INSERT INTO \(table) (v) VALUES ($1)", 2)
            try connection.executeLater("INSERT INTO \(table) (v) VALUES ($1)", 1)
            let queued = connection.queuedStatements
            // The next statement carries both, and runs after them, in the order queued.
            let seen = try connection.query("SELECT array_agg(v ORDER BY position)::text AS v FROM \(table)").first!.decode(
                "v", as: String.self)
            return (queued, seen, connection.queuedStatements)
        }
        #expect(queued == 3, "BEGIN, queued until the first statement, and the two writes")
        #expect(seen == "{2,1}")
        #expect(outside == 0)
        // Queued last, sent with the commit.
        try await pool.transaction { try $0.executeLater("INSERT INTO \(table) (v) VALUES ($1)", 3) }
        let count = try await pool.withConnection { try $0.query("SELECT count(*) AS c FROM \(table)").first!.decode("c", as: Int.self) }
        #expect(count == 3)
        try await pool.withConnection { try $0.execute("DROP TABLE \(table)") }
    }

    @Test("a queued write that fails fails the statement that carried it; the transaction rolls back and the connection is reused")
    func queuedWriteFailureRollsBack() async throws {
        let pool = makePool(size: 1)
        let table = "qf_" + TestEnvironment.unique("t").replacingOccurrences(of: "-", with: "_")
        let backend = try await pool.withConnection { connection in
            try connection.execute("CREATE TABLE \(table) (v int PRIMARY KEY)")
            return try connection.query("SELECT pg_backend_pid() AS pid").first!.decode("pid", as: Int.self)
        }
        // Failing at the commit: nothing of the transaction stays.
        await #expect {
            try await pool.transaction { connection in
                try connection.execute("INSERT INTO \(table) VALUES ($1)", 1)
                try connection.executeLater("INSERT INTO \(table) VALUES ($1)", 1)
            }
        } throws: { ($0 as? PostgresError)?.sqlState == PostgresError.uniqueViolation && ($0 as? PostgresError)?.fromQueuedWrite == true }
        // Failing at the next statement: that statement throws the queued write's error.
        await #expect {
            try await pool.transaction { connection in
                try connection.execute("INSERT INTO \(table) VALUES ($1)", 2)
                try connection.executeLater("INSERT INTO \(table) VALUES ($1)", 2)
                try connection.execute("INSERT INTO \(table) VALUES ($1)", 3)
            }
        } throws: { ($0 as? PostgresError)?.sqlState == PostgresError.uniqueViolation && ($0 as? PostgresError)?.fromQueuedWrite == true }
        // The same connection (not a replacement), out of pipeline mode, no transaction left open.
        let (rows, after, healthy) = try await pool.withConnection { connection in
            (
                try connection.query("SELECT count(*) AS c FROM \(table)").first!.decode("c", as: Int.self),
                try connection.query("SELECT pg_backend_pid() AS pid").first!.decode("pid", as: Int.self), connection.isHealthy
            )
        }
        #expect(rows == 0)
        #expect(after == backend)
        #expect(healthy)
        try await pool.withConnection { try $0.execute("DROP TABLE \(table)") }
    }

    @Test("a rollback to a savepoint drops the writes queued after it; outside a transaction a write runs at once")
    func queuedWriteAndSavepoints() async throws {
        let pool = makePool(size: 1)
        let table = "qs_" + TestEnvironment.unique("t").replacingOccurrences(of: "-", with: "_")
        try await pool.withConnection { try $0.execute("CREATE TABLE \(table) (v int PRIMARY KEY)") }
        try await pool.transaction { connection in
            try connection.executeLater("INSERT INTO \(table) VALUES ($1)", 1)
            try connection.execute("SAVEPOINT s")  // carries the first write
            try connection.executeLater("INSERT INTO \(table) VALUES ($1)", 1)  // would fail
            try connection.execute("ROLLBACK TO SAVEPOINT s")
            #expect(connection.queuedStatements == 0)
            try connection.executeLater("INSERT INTO \(table) VALUES ($1)", 2)
        }
        let values = try await pool.withConnection { connection in
            try connection.executeLater("INSERT INTO \(table) VALUES ($1)", 9)
            #expect(connection.queuedStatements == 0)
            return try connection.query("SELECT array_agg(v ORDER BY v)::text AS v FROM \(table)").first!.decode("v", as: String.self)
        }
        #expect(values == "{1,2,9}")
        try await pool.withConnection { try $0.execute("DROP TABLE \(table)") }
    }

    @Test("a serialization failure (40001) is retried and the transaction succeeds")
    func serializationFailureRetried() async throws {
        let pool = makePool(size: 4)
        let table = "ser_" + TestEnvironment.unique("t").replacingOccurrences(of: "-", with: "_")
        try await pool.withConnection { try $0.execute("CREATE TABLE \(table) (id int PRIMARY KEY, v bigint NOT NULL)") }
        try await pool.withConnection { try $0.execute("INSERT INTO \(table) VALUES (1, 0)") }

        // Concurrent read-modify-write increments under SERIALIZABLE conflict with each other;
        // every one must still land exactly once thanks to the reruns.
        let attempts = Shared(0)
        let writers = 20
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<writers {
                group.addTask {
                    try await pool.transaction(isolation: .serializable, maxAttempts: 50) { connection in
                        attempts.update { $0 += 1 }
                        let v = try connection.query("SELECT v FROM \(table) WHERE id = 1").first!.decode("v", as: Int64.self)
                        Thread.sleep(forTimeInterval: 0.005)
                        try connection.execute("UPDATE \(table) SET v = $1 WHERE id = 1", v + 1)
                    }
                }
            }
            try await group.waitForAll()
        }
        let final = try await pool.withConnection { try $0.query("SELECT v FROM \(table) WHERE id = 1").first!.decode("v", as: Int64.self) }
        #expect(final == Int64(writers))
        #expect(attempts.value > writers, "some transactions conflicted and ran again")
        try await pool.withConnection { try $0.execute("DROP TABLE \(table)") }
    }

    @Test("the pool serves many concurrent callers with few connections")
    func poolUnderConcurrency() async throws {
        let pool = makePool(size: 3)
        let backends = Shared(Set<Int32>())
        let sum = try await withThrowingTaskGroup(of: Int64.self) { group in
            for value in 1...200 {
                group.addTask {
                    try await pool.withConnection { connection in
                        let row = try connection.query("SELECT $1::bigint * 2 AS doubled, pg_backend_pid() AS pid", Int64(value)).first!
                        let pid = try row.decode("pid", as: Int32.self)
                        backends.update { $0.insert(pid) }
                        return try row.decode("doubled", as: Int64.self)
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(sum == 2 * (200 * 201 / 2))
        #expect(backends.value.count <= 3)
    }

    @Test("a broken connection is replaced on the next use")
    func reconnectsAfterBackendDies() async throws {
        let pool = makePool(size: 1)
        let pid = try await pool.withConnection { try $0.query("SELECT pg_backend_pid() AS p").first!.decode("p", as: Int32.self) }
        let killer = makePool(size: 1)
        try await killer.withConnection { try $0.execute("SELECT pg_terminate_backend($1)", pid) }
        await #expect {
            try await pool.withConnection { try $0.execute("SELECT 1") }
        } throws: { ($0 as? PostgresError)?.isRetriable == true }
        let next = try await pool.withConnection { try $0.query("SELECT pg_backend_pid() AS p").first!.decode("p", as: Int32.self) }
        #expect(next != pid)
    }

    @Test("an unreachable server is a connection error that may be retried")
    func unreachable() async throws {
        let pool = PostgresPool(connectionString: "postgresql://armada@127.0.0.1:1/none", size: 1, logger: Logger(label: "t"))
        await #expect {
            try await pool.withConnection { try $0.execute("SELECT 1") }
        } throws: { ($0 as? PostgresError)?.kind == .connection && ($0 as? PostgresError)?.isRetriable == true }
    }
}
