import CoreMetrics
import Foundation

/// The runtime's Prometheus series, labelled by queue and message type.
enum RuntimeMetrics {
    /// Messages committed together by one group commit (only batches of two or more).
    static let batchSize = Recorder(label: "armada_batch_messages")
    /// Batches rolled back to run one message alone (it threw, was rejected or waits).
    static let batchSplits = Counter(label: "armada_batch_splits_total")
    static func processed(_ queue: String, _ type: String) -> Counter {
        Counter(label: "armada_messages_processed_total", dimensions: [("queue", queue), ("type", type)])
    }
    static func duplicates(_ queue: String, _ type: String) -> Counter {
        Counter(label: "armada_messages_duplicate_total", dimensions: [("queue", queue), ("type", type)])
    }
    static func retried(_ queue: String, _ type: String) -> Counter {
        Counter(label: "armada_messages_retried_total", dimensions: [("queue", queue), ("type", type)])
    }
    static func deadLettered(_ queue: String, _ type: String) -> Counter {
        Counter(label: "armada_messages_dead_lettered_total", dimensions: [("queue", queue), ("type", type)])
    }
    static func again(_ queue: String, _ type: String) -> Counter {
        Counter(label: "armada_messages_again_total", dimensions: [("queue", queue), ("type", type)])
    }
    static func failed(_ queue: String, _ type: String) -> Counter {
        Counter(label: "armada_messages_failed_total", dimensions: [("queue", queue), ("type", type)])
    }
    static func duration(_ queue: String, _ type: String) -> CoreMetrics.Timer {
        CoreMetrics.Timer(
            label: "armada_handler_duration_seconds", dimensions: [("queue", queue), ("type", type)], preferredDisplayUnit: .seconds)
    }
    static let outboxBacklog = Gauge(label: "armada_outbox_backlog")
    /// Dead-lettered commands whose failure the database could not record at that moment (it
    /// waits in the queue as a `runtime.command-stalled` message).
    static let commandsUnmarked = Counter(label: "armada_commands_unmarked_total")
    /// Rows no relay tries any more (refused too often): an operator must look.
    static let outboxStuck = Gauge(label: "armada_outbox_stuck")
    static let outboxPublished = Counter(label: "armada_outbox_published_total")
}
