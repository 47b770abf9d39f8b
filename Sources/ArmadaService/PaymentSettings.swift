import Foundation
import Logging
import Postgres
import ServiceLifecycle
import Tripay
import Wallet

extension Settings {
    /// TRIPAY_API_URL (default: the local simulator), TRIPAY_API_KEY, TRIPAY_PRIVATE_KEY, TRIPAY_MERCHANT_CODE.
    public func tripayConfiguration() throws -> TripayConfiguration {
        TripayConfiguration(
            baseURL: environment["TRIPAY_API_URL"] ?? "http://127.0.0.1:8091",
            apiKey: try required("TRIPAY_API_KEY"), privateKey: try required("TRIPAY_PRIVATE_KEY"),
            merchantCode: try required("TRIPAY_MERCHANT_CODE"))
    }

    /// ARMADA_DEPOSIT_MAX (100,000,000), ARMADA_DEPOSIT_EXPIRY_HOURS (24), TRIPAY_CALLBACK_URL, TRIPAY_RETURN_URL.
    public func depositPolicy() throws -> DepositPolicy {
        let maximum = try Self.int(environment, "ARMADA_DEPOSIT_MAX", default: 100_000_000)
        let hours = try Self.int(environment, "ARMADA_DEPOSIT_EXPIRY_HOURS", default: 24)
        guard maximum >= Int(Deposit.minimumAmount), hours >= 1 else {
            throw SettingsError("ARMADA_DEPOSIT_MAX must be at least \(Deposit.minimumAmount) and ARMADA_DEPOSIT_EXPIRY_HOURS at least 1")
        }
        return DepositPolicy(
            maximumAmount: Int64(maximum), expiry: .seconds(hours * 3600), callbackURL: environment["TRIPAY_CALLBACK_URL"],
            returnURL: environment["TRIPAY_RETURN_URL"])
    }
}

/// Refreshes the cached Tripay channel list every `interval` (TRIPAY_CHANNELS_REFRESH_SECONDS).
public struct PaymentChannelRefresher: Service {
    let pool: PostgresPool
    let tripay: TripayClient
    let interval: Duration
    let logger: Logger

    public init(pool: PostgresPool, tripay: TripayClient, interval: Duration, logger: Logger) {
        self.pool = pool
        self.tripay = tripay
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await PaymentChannels.refresh(pool: pool, tripay: tripay)
                logger.debug("payment channels refreshed")
            } catch {
                logger.warning("payment channel refresh failed; keeping the cached list", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}

/// Runs `DepositReconciler` rounds every ARMADA_RECONCILE_INTERVAL_SECONDS.
public struct DepositReconcilerService: Service {
    let reconciler: DepositReconciler
    let interval: Duration
    let logger: Logger

    public init(reconciler: DepositReconciler, interval: Duration, logger: Logger) {
        self.reconciler = reconciler
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await reconciler.reconcileOnce()
            } catch {
                logger.warning("deposit reconciliation round failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
