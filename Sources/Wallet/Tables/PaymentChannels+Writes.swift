import Foundation
import Logging
import Messaging
import Postgres
import Tripay
import WalletContracts

/// The payments worker's side of the channel cache.
extension PaymentChannels {
    /// The cached channel, fetching the list from Tripay first when the cache is empty.
    static func channel(_ code: String, pool: PostgresPool, tripay: TripayClient) async throws -> PaymentChannel? {
        let cached = try await pool.withConnection { try all(on: $0) }
        if !cached.isEmpty { return cached.first { $0.code == code } }
        do {
            try await refresh(pool: pool, tripay: tripay)
        } catch let error as TripayError {
            // Without the list nothing can be decided; whatever Tripay said, try again later
            // (a wrong API key is an operator's fix, which the retries give time for).
            throw RetryLater("the payment channel list could not be fetched: \(error)")
        }
        return try await pool.withConnection { try all(on: $0) }.first { $0.code == code }
    }

    /// Replaces the cache with Tripay's current list.
    static func refresh(pool: PostgresPool, tripay: TripayClient) async throws {
        let channels = try await tripay.paymentChannels()
        let rows = try channels.map { ($0.code, $0.active, String(decoding: try JSONEncoder().encode($0), as: UTF8.self)) }
        try await pool.transaction { connection in
            try connection.execute(
                "DELETE FROM payment_channels WHERE NOT (code = ANY($1::text[]))", "{" + rows.map(\.0).joined(separator: ",") + "}")
            for (code, active, json) in rows {
                try connection.execute(
                    """
                    INSERT INTO payment_channels (code, active, channel, refreshed_at) VALUES ($1, $2, $3::jsonb, now())
                    ON CONFLICT (code) DO UPDATE SET active = EXCLUDED.active, channel = EXCLUDED.channel, refreshed_at = now()
                    """, code, active, json)
            }
        }
    }

    /// Refreshes the cache every TRIPAY_CHANNELS_REFRESH_SECONDS; a failed refresh keeps the
    /// cached list. Each process refreshes on its own: the list is the same for all.
    static func refreshJob(pool: PostgresPool, tripay: TripayClient, every interval: Duration) -> PeriodicJob {
        PeriodicJob(name: "payments.channel-refresh", every: interval, exclusive: false) { context in
            do {
                try await refresh(pool: pool, tripay: tripay)
                context.logger.debug("payment channels refreshed")
            } catch {
                context.logger.warning("payment channel refresh failed; keeping the cached list", metadata: ["error": "\(error)"])
            }
        }
    }
}
