import ArmadaTestSupport
import Foundation
import Logging
import Postgres

/// A PostgreSQL database of one test's own, migrated with `armadactl migrate`: what it holds is
/// only what the test put there (the shared test database gets rows from every suite at once).
struct ScratchDatabase {
    let name: String
    let url: String
    let pool: PostgresPool
    private let admin: PostgresPool

    static func make(_ prefix: String) async throws -> ScratchDatabase {
        let name = "armada_\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
        let admin = PostgresPool(
            connectionString: TestDatabase.url(database: "postgres"), size: 1, applicationName: "scratch-admin", logger: Logger(label: "t"))
        _ = try await admin.withConnection { try $0.execute("CREATE DATABASE \(name)") }
        let url = TestDatabase.url(database: name)
        let migrated = try await ChildProcess.run(
            TestEnvironment.binDirectory.appendingPathComponent("armadactl").path, ["migrate"], environment: ["DATABASE_URL": url])
        guard migrated.status == 0 else { throw TestFailure("migrate \(name): \(migrated.output)") }
        let pool = PostgresPool(connectionString: url, size: 2, applicationName: "scratch", logger: Logger(label: "t"))
        return ScratchDatabase(name: name, url: url, pool: pool, admin: admin)
    }

    /// Drops it, whoever is still connected.
    func drop() async {
        _ = try? await admin.withConnection { try $0.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
    }
}
