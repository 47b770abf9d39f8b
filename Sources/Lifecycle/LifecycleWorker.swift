import Foundation
import Messaging
import OrdersContracts
import Postgres
import Provisioning

/// The lifecycle worker (`armada-lifecycle`): a scheduler publishing `lifecycle.tick` every
/// period, and the consumer of ticks and the per-order commands they fan out.
public enum LifecycleWorker {
    public static let name = "armada-lifecycle"
    public static let queue = "armada.lifecycle"

    public static func definition(_ settings: LifecycleSettings, _ resources: WorkerResources) -> WorkerDefinition {
        WorkerDefinition(
            name: name, queue: queue,
            handlers: [
                AnyMessageHandler(LifecycleTickHandler(batch: settings.batch)),
                AnyMessageHandler(RemindExpiryHandler()),
                AnyMessageHandler(AutoRenewHandler()),
                AnyMessageHandler(ExpireOrderHandler()),
                AnyMessageHandler(TerminateExpiredHandler()),
            ],
            publishes: [
                VPSExpiringSoon.self, VPSRenewalFailed.self, VPSSuspended.self, VPSRenewed.self, VPSTerminated.self, DestroyDroplet.self,
                RequestDropletAction.self,
            ],
            periodic: settings.schedule ? [Scheduler.job(pool: resources.pool, periodSeconds: settings.tickSeconds)] : [],
            // Not yet: with a deep prefetch, a backlog of ticks (30 simulated days at once in the
            // lifecycle load test) had a later tick's expiry handled before an earlier tick's
            // 8 h reminder, which then found the order suspended and sent nothing. Until the
            // reminder is robust to that order, lifecycle commands commit one by one.
            batchSize: 1)
    }
}

/// The lifecycle worker's settings (README, Configuration).
public struct LifecycleSettings: Sendable {
    /// ARMADA_TICK_SECONDS: the period of `lifecycle.tick`.
    public var tickSeconds: Int
    /// ARMADA_LIFECYCLE_SCHEDULER: `off` runs the consumer only (ticks come from elsewhere, e.g. `armadactl lifecycle tick`).
    public var schedule: Bool
    /// ARMADA_LIFECYCLE_BATCH: the most orders one tick fans out per action.
    public var batch: Int

    public init(_ environment: EnvironmentReader) throws {
        tickSeconds = try environment.int("ARMADA_TICK_SECONDS", default: 60, in: 1...86_400)
        let scheduler = environment.string("ARMADA_LIFECYCLE_SCHEDULER", default: "on")
        guard ["on", "off"].contains(scheduler) else {
            throw SettingsError("ARMADA_LIFECYCLE_SCHEDULER must be on or off, got '\(scheduler)'")
        }
        schedule = scheduler == "on"
        batch = try environment.int("ARMADA_LIFECYCLE_BATCH", default: 10_000, in: 1...1_000_000)
    }
}

/// Every lifecycle process publishes the tick of the current period (through the outbox; the id
/// of a period's tick is the same in every process, so it is written and handled once): a dead
/// scheduler costs nothing while another runs, at most one period when it was the only one.
enum Scheduler {
    static func job(pool: PostgresPool, periodSeconds: Int) -> PeriodicJob {
        PeriodicJob(name: "lifecycle.scheduler", every: .seconds(periodSeconds), jitter: 0.05, exclusive: false) { context in
            let slot = Date(
                timeIntervalSince1970: (context.now.timeIntervalSince1970 / Double(periodSeconds)).rounded(.down) * Double(periodSeconds))
            try await pool.transaction { connection in
                try Outbox.enqueue(
                    Envelope(
                        id: LifecycleTick.id(at: slot, periodSeconds: periodSeconds), data: LifecycleTick(now: slot), occurredAt: slot),
                    on: connection)
            }
        }
    }
}
