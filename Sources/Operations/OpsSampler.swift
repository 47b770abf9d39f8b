import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle

/// Takes a snapshot every `interval` and keeps the last one for the ops page, recording it as
/// Prometheus gauges (`Deploy/prometheus/armada-rules.yml` alerts on them). Runs in the
/// ingress; with several ingresses every one exports the same figures (the rules take `max`).
public final class OpsSampler: Service, Sendable {
    let collector: OpsCollector
    let interval: Duration
    let logger: Logger
    private let latest = LatestSnapshot()

    public init(collector: OpsCollector, interval: Duration = .seconds(15), logger: Logger) {
        self.collector = collector
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            _ = await sample()
            try? await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
        }
    }

    /// One snapshot now, recorded; nil when the broker or the database did not answer (counted
    /// in `armada_ops_sample_failures_total`, the gauges keep their last values and
    /// `armada_ops_sampled_timestamp_seconds` stops moving).
    @discardableResult
    public func sample() async -> OpsSnapshot? {
        do {
            let snapshot = try await collector.snapshot()
            OpsGauges.record(snapshot)
            await latest.set(snapshot)
            return snapshot
        } catch {
            OpsGauges.sampleFailures.increment()
            logger.warning("ops sample failed", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// The last snapshot if younger than `maxAge`, else a fresh one.
    public func current(maxAge: Duration = .seconds(5)) async throws -> OpsSnapshot {
        if let last = await latest.get(), Date().timeIntervalSince(last.takenAt) < Double(maxAge.components.seconds) {
            return last
        }
        let snapshot = try await collector.snapshot()
        OpsGauges.record(snapshot)
        await latest.set(snapshot)
        return snapshot
    }
}

private actor LatestSnapshot {
    var value: OpsSnapshot?
    func set(_ snapshot: OpsSnapshot) { value = snapshot }
    func get() -> OpsSnapshot? { value }
}

/// The snapshot as Prometheus gauges.
public enum OpsGauges {
    static let sampleFailures = Counter(label: "armada_ops_sample_failures_total")
    static let sampledAt = Gauge(label: "armada_ops_sampled_timestamp_seconds")
    static let outboxBacklog = Gauge(label: "armada_ops_outbox_unpublished")
    static let outboxOldest = Gauge(label: "armada_ops_outbox_oldest_seconds")
    static let outboxStuck = Gauge(label: "armada_ops_outbox_stuck")

    public static func record(_ snapshot: OpsSnapshot) {
        for queue in snapshot.queues {
            let labels = [("queue", queue.name), ("kind", queue.kind.rawValue), ("work_queue", queue.workQueue)]
            Gauge(label: "armada_queue_messages_ready", dimensions: labels).record(queue.ready)
            if let unacknowledged = queue.unacknowledged {
                Gauge(label: "armada_queue_messages_unacknowledged", dimensions: labels).record(unacknowledged)
            }
            Gauge(label: "armada_queue_consumers", dimensions: labels).record(queue.consumers)
            Gauge(label: "armada_queue_oldest_ready_seconds", dimensions: labels).record(queue.oldestReadySeconds ?? 0)
        }
        for (flag, count) in snapshot.depositFlags {
            Gauge(label: "armada_deposit_flags", dimensions: [("flag", flag)]).record(count)
        }
        // Without the database's figures the sample is not complete: the timestamp stays, so
        // ArmadaOpsFiguresStale fires rather than the outbox alerts going quiet.
        guard let outbox = snapshot.outbox else { return }
        outboxBacklog.record(outbox.backlog)
        outboxOldest.record(outbox.oldestSeconds ?? 0)
        outboxStuck.record(outbox.stuck)
        sampledAt.record(snapshot.takenAt.timeIntervalSince1970)
    }
}
