import Metrics

/// The payments area's own Prometheus series (the runtime's are in Messaging).
enum PaymentsMetrics {
    /// Deposits credited after we had closed them (an operator alert).
    static let paidLate = Counter(label: "armada_deposits_paid_late_total")
    /// Deposits flagged for an operator, by flag.
    static func flagged(_ flag: DepositFlag) -> Counter {
        Counter(label: "armada_deposits_flagged_total", dimensions: [("flag", flag.rawValue)])
    }
}
