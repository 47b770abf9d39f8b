import DigitalOcean
import Foundation
import Logging
import OrdersContracts
import Postgres

/// Not now: the token's per-minute budget is spent, or DigitalOcean said 429 and its pause has
/// not passed. A handler answers "again after" this; it is not a failure.
public struct CallWait: Error, Sendable, CustomStringConvertible {
    public var until: Date
    public var description: String { "DigitalOcean calls on this account wait until \(until)" }
}

/// Every DigitalOcean call the provisioner makes goes through here, for one account: take a call
/// from the token's per-minute budget (shared by every provisioner process through Postgres),
/// open the token, call, and record what the answer says about the account — the hourly
/// `RateLimit-*` reading (DEGRADED below 100), a 429's pause (until `RateLimit-Reset` when
/// nothing remains, else the burst window, 60 s, plus up to a quarter more of jitter: it was the
/// burst limit), failures that make it UNHEALTHY.
public struct DigitalOceanGateway: Sendable {
    public let client: DigitalOceanClient
    let pool: PostgresPool
    let sealer: TokenSealer
    let perMinute: Int
    /// The burst limit's window in seconds: 60 at DigitalOcean.
    let window: Int
    let logger: Logger

    public init(client: DigitalOceanClient, pool: PostgresPool, sealer: TokenSealer, perMinute: Int, window: Int = 60, logger: Logger) {
        self.client = client
        self.pool = pool
        self.sealer = sealer
        self.perMinute = perMinute
        self.window = window
        self.logger = logger
    }

    @discardableResult
    public func call<Value: Sendable>(
        _ account: DOAccount, _ operation: @Sendable (DigitalOceanClient, String) async throws -> DigitalOceanReply<Value>
    ) async throws -> Value {
        let id = account.id
        let (budget, window) = (perMinute, window)
        // A token that cannot be opened (another key, a damaged row) spends no call of the budget.
        let token = try sealer.open(account.sealedToken)
        if let until = try await pool.withConnection({ try DOAccounts.takeCall(id, perMinute: budget, window: window, on: $0) }) {
            throw CallWait(until: until)
        }
        do {
            let reply = try await operation(client, token)
            let reading = reply.rateLimit
            try await pool.withConnection { try DOAccounts.recordSuccess(id, reading: reading, on: $0) }
            return reply.value
        } catch let error as DigitalOceanError {
            switch error {
            case .rateLimited(let reading):
                let until =
                    reading.flatMap { $0.remaining == 0 ? $0.reset : nil }
                    ?? Date().addingTimeInterval(Double(window) * (1 + Double.random(in: 0..<0.25)))
                logger.warning(
                    "DigitalOcean rate limit hit; pausing the account", metadata: ["account": "\(account.name)", "until": "\(until)"])
                try await pool.withConnection { try DOAccounts.pause(id, until: until, reading: reading, on: $0) }
                throw CallWait(until: until)
            default:
                if error.countsAgainstAccount {
                    let text = error.description
                    try await pool.withConnection { try DOAccounts.recordFailure(id, error: text, on: $0) }
                }
                throw error
            }
        }
    }
}
