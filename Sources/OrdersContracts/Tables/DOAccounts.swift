import Foundation
import Postgres

/// A DigitalOcean account's health (DOMAIN.md).
public enum AccountHealth: String, Sendable, Codable, CaseIterable {
    case healthy = "HEALTHY", degraded = "DEGRADED", unhealthy = "UNHEALTHY", unknown = "UNKNOWN"

    public init(stored: String) throws {
        guard let health = AccountHealth(rawValue: stored) else {
            throw PostgresError(kind: .decoding, message: "unknown account health '\(stored)'")
        }
        self = health
    }
}

/// An account as an admin sees it: never the token.
public struct DOAccountView: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var dropletLimit: Int
    public var activeDroplets: Int
    public var health: AccountHealth
    public var isPrimary: Bool
    public var active: Bool
    public var rateRemaining: Int?
    public var rateResetAt: Date?
    public var pausedUntil: Date?
    public var consecutiveFailures: Int
    public var lastError: String?
    public var lastCheckedAt: Date?
    public var createdAt: Date
}

/// The `do_accounts` table: what an admin sees (never a token). The provisioner's reads and
/// writes are in `Provisioning` (`DOAccounts+Writes`).
public enum DOAccounts {
    public static func views(on connection: PGConnection) throws -> [DOAccountView] {
        try connection.query(
            """
            SELECT id, name, droplet_limit, active_droplets, health, is_primary, active, rate_remaining, rate_reset_at, paused_until,
                   consecutive_failures, last_error, last_checked_at, created_at
            FROM do_accounts ORDER BY is_primary DESC, created_at, id
            """
        ).map { row in
            DOAccountView(
                id: try row.decode("id", as: UUID.self).uuidString.lowercased(), name: try row.decode("name"),
                dropletLimit: try row.decode("droplet_limit"), activeDroplets: try row.decode("active_droplets"),
                health: try AccountHealth(stored: try row.decode("health")), isPrimary: try row.decode("is_primary"),
                active: try row.decode("active"), rateRemaining: try row.decode("rate_remaining"),
                rateResetAt: try row.decode("rate_reset_at"), pausedUntil: try row.decode("paused_until"),
                consecutiveFailures: try row.decode("consecutive_failures"), lastError: try row.decode("last_error"),
                lastCheckedAt: try row.decode("last_checked_at"), createdAt: try row.decode("created_at"))
        }
    }

}
