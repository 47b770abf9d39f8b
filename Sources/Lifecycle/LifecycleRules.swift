import Foundation
import OrdersContracts

/// DOMAIN.md's lifecycle numbers, in one place.
public enum LifecycleRules {
    /// Hours before `expires_at` a reminder is due: daily plans 8; monthly and yearly 168, 72, 24, 8.
    public static func thresholds(_ period: BillingPeriod) -> [Int] {
        period == .daily ? [8] : [168, 72, 24, 8]
    }

    /// The thresholds due at `now` for a period ending at `periodEnd` (`now ≥ end − T`), most urgent first.
    public static func due(_ period: BillingPeriod, periodEnd: Date, now: Date) -> [Int] {
        thresholds(period).filter { now >= periodEnd.addingTimeInterval(-Double($0) * 3600) }.sorted()
    }

    /// How long before expiry auto-renewal starts trying: daily plans 8 h, else 24 h.
    public static func renewalWindow(_ period: BillingPeriod) -> TimeInterval {
        (period == .daily ? 8 : 24) * 3600
    }

    /// How long a suspended VPS waits for payment before it is terminated: daily 0 (terminated at
    /// expiry, never suspended), monthly 24 h, yearly 72 h.
    public static func graceHours(_ period: BillingPeriod) -> Int {
        switch period {
        case .daily: return 0
        case .monthly: return 24
        case .yearly: return 72
        }
    }
}
