import ArmadaTestSupport
import Foundation
import Logging
import Migrations
import Postgres
import Testing

/// A database of its own for each test, dropped afterwards.
func withScratchDatabase(_ body: (PostgresPool, String) async throws -> Void) async throws {
    let name = "scratch_" + UUID().uuidString.prefix(8).lowercased()
    let admin = TestDatabase.pool(size: 1, name: "migrator-admin")
    try await admin.withConnection { try $0.execute("CREATE DATABASE \(name)") }
    let url = TestDatabase.url(database: name)
    let pool = PostgresPool(connectionString: url, size: 4, applicationName: "migrator-tests", logger: Logger(label: "t"))
    do {
        try await body(pool, url)
    } catch {
        _ = try? await admin.withConnection { try $0.execute("DROP DATABASE \(name) WITH (FORCE)") }
        throw error
    }
    try await admin.withConnection { try $0.execute("DROP DATABASE \(name) WITH (FORCE)") }
}

@Suite("Migrations against a real PostgreSQL")
struct MigratorTests {
    @Test("migrating applies every file once; a second run applies nothing")
    func twice() async throws {
        try await withScratchDatabase { pool, url in
            let migrator = Migrator(pool: pool, logger: Logger(label: "t"))
            #expect(try await migrator.migrate() == Migrator.all.map(\.name))
            #expect(try await migrator.migrate() == [])
            let recorded = try await pool.withConnection { connection in
                try connection.query("SELECT name, checksum FROM schema_migrations ORDER BY version").map {
                    (try $0.decode("name", as: String.self), try $0.decode("checksum", as: String.self))
                }
            }
            #expect(recorded.map(\.0) == Migrator.all.map(\.name))
            #expect(recorded.map(\.1) == Migrator.all.map(\.checksum))
        }
    }

    @Test("several processes migrating at once take turns under the advisory lock")
    func concurrent() async throws {
        try await withScratchDatabase { pool, url in
            let results = try await withThrowingTaskGroup(of: [String].self) { group in
                for index in 0..<4 {
                    group.addTask {
                        // A pool each: separate sessions, as separate processes would have.
                        let own = PostgresPool(connectionString: url, size: 1, applicationName: "m\(index)", logger: Logger(label: "t"))
                        return try await Migrator(pool: own, logger: Logger(label: "t")).migrate()
                    }
                }
                return try await group.reduce(into: [[String]]()) { $0.append($1) }
            }
            #expect(results.filter { !$0.isEmpty } == [Migrator.all.map(\.name)], "exactly one run applied them")
            let count = try await pool.withConnection {
                try $0.query("SELECT count(*) AS n FROM schema_migrations").first!.decode("n", as: Int.self)
            }
            #expect(count == Migrator.all.count)
        }
    }

    @Test("an applied migration whose file was edited is refused with a clear error")
    func editedRefused() async throws {
        try await withScratchDatabase { pool, url in
            try await Migrator(pool: pool, logger: Logger(label: "t")).migrate()
            try await pool.withConnection { try $0.execute("UPDATE schema_migrations SET checksum = 'deadbeef' WHERE version = 1") }
            await #expect {
                try await Migrator(pool: pool, logger: Logger(label: "t")).migrate()
            } throws: { error in
                "\(error)".contains("0001_messaging.sql was changed after it was applied")
            }
        }
    }

    @Test("every SQL file in Sources/Migrations/SQL is a known, numbered migration in order")
    func filesListed() throws {
        let directory = TestEnvironment.repositoryRoot.appendingPathComponent("Sources/Migrations/SQL").path
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files == Migrator.all.map(\.name))
        #expect(Migrator.all.map(\.version) == Array(1...Migrator.all.count))
    }
}
