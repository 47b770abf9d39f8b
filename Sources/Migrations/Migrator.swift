import Crypto
import Logging
import Postgres

/// One numbered SQL file from `Sources/Migrations/SQL/`.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String

    /// SHA-256 of the file: an applied migration whose file changed is refused.
    public var checksum: String {
        SHA256.hash(data: Array(sql.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    init(_ name: String, _ bytes: [UInt8]) {
        self.name = name
        self.version = Int(name.prefix { $0.isNumber })!
        self.sql = String(decoding: bytes, as: UTF8.self)
    }
}

public enum MigrationError: Error, CustomStringConvertible {
    case edited(name: String, applied: String, current: String)

    public var description: String {
        switch self {
        case .edited(let name, let applied, let current):
            return "migration \(name) was changed after it was applied (checksum \(applied.prefix(12)) in the database, "
                + "\(current.prefix(12)) in this build). Applied migrations are immutable: revert the edit and add a new numbered migration."
        }
    }
}

/// Applies the numbered migrations in order, each in its own transaction, under a
/// PostgreSQL advisory lock so that several processes starting at once take turns.
public struct Migrator: Sendable {
    /// Every migration this build knows, in order. A new file goes in `SQL/`, in Package.swift's
    /// resources and here; a test checks the three agree.
    public static let all: [Migration] = [
        Migration("0001_messaging.sql", PackageResources._001_messaging_sql),
        Migration("0002_wallet.sql", PackageResources._002_wallet_sql),
        Migration("0003_commands_and_deposits.sql", PackageResources._003_commands_and_deposits_sql),
        Migration("0004_deposit_reconciliation.sql", PackageResources._004_deposit_reconciliation_sql),
        Migration("0005_promos.sql", PackageResources._005_promos_sql),
        Migration("0006_periodic_runs.sql", PackageResources._006_periodic_runs_sql),
        Migration("0007_payments_hardening.sql", PackageResources._007_payments_hardening_sql),
        Migration("0008_delivery_copies.sql", PackageResources._008_delivery_copies_sql),
        Migration("0009_command_stalled.sql", PackageResources._009_command_stalled_sql),
        Migration("0010_reconcile_index_and_stalled.sql", PackageResources._010_reconcile_index_and_stalled_sql),
        Migration("0011_catalog_orders_provisioning.sql", PackageResources._011_catalog_orders_provisioning_sql),
        Migration("0012_provisioning_fencing.sql", PackageResources._012_provisioning_fencing_sql),
        Migration("0013_lifecycle.sql", PackageResources._013_lifecycle_sql),
        Migration("0014_notifications.sql", PackageResources._014_notifications_sql),
        Migration("0015_queue_backlog.sql", PackageResources._015_queue_backlog_sql),
        Migration("0016_ledger_append_only.sql", PackageResources._016_ledger_append_only_sql),
        Migration("0017_audit_indexes.sql", PackageResources._017_audit_indexes_sql),
    ]

    /// Any fixed number identifies "the migration lock" among advisory locks.
    static let lockKey: Int64 = 0x41_524d_4144_4131  // "ARMADA1"

    let pool: PostgresPool
    let logger: Logger
    let migrations: [Migration]

    public init(pool: PostgresPool, logger: Logger, migrations: [Migration] = Migrator.all) {
        self.pool = pool
        self.logger = logger
        self.migrations = migrations.sorted { $0.version < $1.version }
    }

    /// Applies what is missing; returns the names applied now (empty when up to date).
    @discardableResult
    public func migrate() async throws -> [String] {
        let migrations = self.migrations
        let logger = self.logger
        return try await pool.withConnection { connection in
            try connection.execute("SELECT pg_advisory_lock($1)", Self.lockKey)
            defer { _ = try? connection.execute("SELECT pg_advisory_unlock($1)", Self.lockKey) }
            try connection.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    integer     PRIMARY KEY,
                    name       text        NOT NULL,
                    checksum   text        NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
            var applied: [Int: String] = [:]
            for row in try connection.query("SELECT version, checksum FROM schema_migrations") {
                applied[try row.decode("version")] = try row.decode("checksum", as: String.self)
            }
            var done: [String] = []
            for migration in migrations {
                if let checksum = applied[migration.version] {
                    guard checksum == migration.checksum else {
                        throw MigrationError.edited(name: migration.name, applied: checksum, current: migration.checksum)
                    }
                    continue
                }
                try connection.transaction { connection in
                    try connection.executeScript(migration.sql)
                    try connection.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        migration.version, migration.name, migration.checksum)
                }
                logger.info("migration applied", metadata: ["migration": "\(migration.name)"])
                done.append(migration.name)
            }
            return done
        }
    }
}
