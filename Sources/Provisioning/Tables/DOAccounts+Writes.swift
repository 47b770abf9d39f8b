import DigitalOcean
import Foundation
import OrdersContracts
import Postgres

/// An account as the provisioner uses it: the sealed token stays sealed until a call.
public struct DOAccount: Sendable, Equatable {
    public var id: UUID
    public var name: String
    public var sealedToken: [UInt8]
    public var dropletLimit: Int
    public var activeDroplets: Int
    public var health: AccountHealth
    public var isPrimary: Bool
    public var active: Bool
}

/// The provisioner's reads and writes of `do_accounts` and its per-second call counts.
extension DOAccounts {
    /// The limit is the lower of the admin's and DigitalOcean's own.
    static let columns =
        "id, name, token_sealed, LEAST(droplet_limit, COALESCE(provider_droplet_limit, droplet_limit)) AS droplet_limit, active_droplets, health, is_primary, active"

    public static func account(_ id: UUID, on connection: PGConnection) throws -> DOAccount? {
        try connection.query("SELECT \(columns) FROM do_accounts WHERE id = $1", id).first.map(decode)
    }

    /// Where a new droplet may go, best first (DOMAIN.md): active accounts with room; HEALTHY or
    /// UNKNOWN ones, primary first, then fewest droplets; then DEGRADED ones; an UNHEALTHY one only
    /// when it is the only active account with room.
    /// DigitalOcean said the account is full: no new droplets until the health check reads its
    /// real limit again.
    static func markFull(_ id: UUID, on connection: PGConnection) throws {
        try connection.execute(
            "UPDATE do_accounts SET provider_droplet_limit = active_droplets, updated_at = now() WHERE id = $1", id)
    }

    /// The account's own limit, as `GET /v2/account` reports it.
    static func recordProviderLimit(_ id: UUID, limit: Int, on connection: PGConnection) throws {
        try connection.execute("UPDATE do_accounts SET provider_droplet_limit = $2, updated_at = now() WHERE id = $1", id, limit)
    }

    public static func candidates(on connection: PGConnection) throws -> [DOAccount] {
        rank(try connection.query("SELECT \(columns) FROM do_accounts WHERE active").map(decode))
    }

    /// The choice rule on its own: active accounts with room; HEALTHY or UNKNOWN ones, primary
    /// first, then fewest droplets; then DEGRADED ones; UNHEALTHY ones only when no other account
    /// has room (so the only active account is still tried).
    public static func rank(_ accounts: [DOAccount]) -> [DOAccount] {
        func tier(_ health: AccountHealth) -> Int {
            switch health {
            case .healthy, .unknown: return 0
            case .degraded: return 1
            case .unhealthy: return 2
            }
        }
        let roomy = accounts.filter { $0.active && $0.activeDroplets < $0.dropletLimit }.sorted {
            (tier($0.health), $0.isPrimary ? 0 : 1, $0.activeDroplets, $0.name) < (
                tier($1.health), $1.isPrimary ? 0 : 1, $1.activeDroplets, $1.name
            )
        }
        let usable = roomy.filter { $0.health != .unhealthy }
        return usable.isEmpty ? roomy : usable
    }

    public static func insert(
        id: UUID, name: String, sealedToken: [UInt8], fingerprint: String, dropletLimit: Int, isPrimary: Bool, on connection: PGConnection
    ) throws -> Bool {
        if isPrimary { try connection.execute("UPDATE do_accounts SET is_primary = false, updated_at = now() WHERE is_primary") }
        return try !connection.query(
            """
            INSERT INTO do_accounts (id, name, token_sealed, token_fingerprint, droplet_limit, is_primary, health, last_checked_at)
            VALUES ($1, $2, $3, $4, $5, $6, 'HEALTHY', now())
            ON CONFLICT DO NOTHING RETURNING id
            """, id, name, sealedToken, fingerprint, dropletLimit, isPrimary
        ).isEmpty
    }

    /// A droplet was created on (or adopted into) the account, or destroyed. Never below zero.
    public static func count(_ id: UUID, by delta: Int, on connection: PGConnection) throws {
        try connection.execute(
            "UPDATE do_accounts SET active_droplets = GREATEST(0, active_droplets + $2), updated_at = now() WHERE id = $1", id, delta)
    }

    // MARK: health and rate limits, written outside handler transactions (operational state)

    /// A call succeeded: failures reset; the hourly reading decides DEGRADED (below 100 left)
    /// and HEALTHY again (above 500, or any success of an UNHEALTHY or UNKNOWN account).
    public static func recordSuccess(_ id: UUID, reading: RateLimitReading?, on connection: PGConnection) throws {
        try connection.execute(
            """
            UPDATE do_accounts SET consecutive_failures = 0, last_error = NULL, last_checked_at = now(), updated_at = now(),
                rate_remaining = COALESCE($2, rate_remaining), rate_reset_at = COALESCE($3, rate_reset_at),
                health = CASE
                    WHEN $2::int IS NOT NULL AND $2::int < 100 THEN 'DEGRADED'
                    WHEN health = 'DEGRADED' AND ($2::int IS NULL OR $2::int <= 500) THEN 'DEGRADED'
                    ELSE 'HEALTHY' END
            WHERE id = $1
            """, id, reading?.remaining, reading?.reset)
    }

    /// A call failed for a reason that concerns the account (5xx, network, 401/403): the third in
    /// a row makes it UNHEALTHY.
    public static func recordFailure(_ id: UUID, error: String, on connection: PGConnection) throws {
        try connection.execute(
            """
            UPDATE do_accounts SET consecutive_failures = consecutive_failures + 1, last_error = left($2, 500),
                last_checked_at = now(), updated_at = now(),
                health = CASE WHEN consecutive_failures + 1 >= 3 THEN 'UNHEALTHY' ELSE health END
            WHERE id = $1
            """, id, error)
    }

    /// A 429: no calls on this token until `until`.
    public static func pause(_ id: UUID, until: Date, reading: RateLimitReading?, on connection: PGConnection) throws {
        try connection.execute(
            """
            UPDATE do_accounts SET paused_until = GREATEST(COALESCE(paused_until, $2), $2), updated_at = now(),
                rate_remaining = COALESCE($3, rate_remaining), rate_reset_at = COALESCE($4, rate_reset_at),
                health = CASE WHEN $3::int IS NOT NULL AND $3::int < 100 THEN 'DEGRADED' ELSE health END
            WHERE id = $1
            """, id, until, reading?.remaining, reading?.reset)
    }

    /// Takes one call of the token's per-minute budget (`window` seconds, 60 at DigitalOcean),
    /// shared by every provisioner process (the account row is the lock). Returns nil when the call may go now, else when to try again.
    public static func takeCall(_ id: UUID, perMinute: Int, window: Int = 60, on connection: PGConnection) throws -> Date? {
        try connection.transaction { connection -> Date? in
            guard
                let row = try connection.query(
                    "SELECT paused_until, now() AS now FROM do_accounts WHERE id = $1 FOR UPDATE", id
                ).first
            else { return nil }
            let now: Date = try row.decode("now")
            if let paused: Date = try row.decode("paused_until"), paused > now { return paused }
            let recent = try connection.query(
                """
                SELECT COALESCE(sum(calls), 0)::int AS calls, min(second) AS oldest FROM do_account_calls
                WHERE account_id = $1 AND second >= date_trunc('second', now()) - make_interval(secs => $2)
                """, id, Double(window)
            ).first
            let calls: Int = try recent?.decode("calls") ?? 0
            if calls >= perMinute {
                let oldest: Date = try recent?.decode("oldest") ?? now
                return oldest.addingTimeInterval(Double(window + 1))
            }
            try connection.execute(
                """
                INSERT INTO do_account_calls (account_id, second, calls) VALUES ($1, date_trunc('second', now()), 1)
                ON CONFLICT (account_id, second) DO UPDATE SET calls = do_account_calls.calls + 1
                """, id)
            try connection.execute(
                "DELETE FROM do_account_calls WHERE account_id = $1 AND second < now() - make_interval(secs => $2)", id, Double(2 * window))
            return nil
        }
    }

    static func decode(_ row: PostgresRow) throws -> DOAccount {
        DOAccount(
            id: try row.decode("id"), name: try row.decode("name"), sealedToken: try row.decode("token_sealed"),
            dropletLimit: try row.decode("droplet_limit"), activeDroplets: try row.decode("active_droplets"),
            health: try AccountHealth(stored: try row.decode("health")), isPrimary: try row.decode("is_primary"),
            active: try row.decode("active"))
    }
}
