import Foundation
import Logging
import Messaging

/// What every Armada process reads from its environment (README, Configuration), parsed once
/// at start; a bad value stops the process with a message naming the variable.
public struct ProcessSettings: Sendable {
    public enum LogFormat: String, Sendable, CaseIterable { case json, text }

    public var environment: EnvironmentReader
    public var databaseURL: String
    public var amqpURL: String
    public var metricsPort: Int
    public var logLevel: Logger.Level
    public var logFormat: LogFormat
    /// Handlers in flight per worker process (times ARMADA_BATCH_SIZE: the prefetch).
    public var concurrency: Int
    /// ARMADA_BATCH_SIZE: plain handlers' messages committed together, at most (group commit).
    public var batchSize: Int
    /// How long SIGTERM waits for in-flight work before everything is cancelled.
    public var shutdownDeadline: Duration
    /// How long inbox rows, published outbox rows and an area's logs are kept.
    public var retention: Duration
    /// Tests only: a worker exits between commit and ack of a message of this type.
    public var crashAfterCommitOfType: String?
    /// Tests only: a worker exits after preparing (calling out for) a message of this type, before committing it.
    public var crashAfterPrepareOfType: String?

    public init(_ environment: EnvironmentReader = EnvironmentReader(), defaultMetricsPort: Int) throws {
        self.environment = environment
        databaseURL = environment.string("DATABASE_URL", default: "postgresql://armada@127.0.0.1:17432/armada")
        amqpURL = environment.string("AMQP_URL", default: "amqp://guest:guest@127.0.0.1:17672/%2f")
        metricsPort = try environment.int("ARMADA_METRICS_PORT", default: defaultMetricsPort, in: 1...65535)
        logLevel = try environment.choice("ARMADA_LOG_LEVEL", default: Logger.Level.info)
        logFormat = try environment.choice("ARMADA_LOG_FORMAT", default: LogFormat.json)
        concurrency = try environment.int("ARMADA_CONCURRENCY", default: 8, in: 1...1000)
        batchSize = try environment.int("ARMADA_BATCH_SIZE", default: 16, in: 1...500)
        shutdownDeadline = try environment.seconds("ARMADA_SHUTDOWN_DEADLINE_SECONDS", default: 25, in: 1...3600)
        retention = try environment.seconds("ARMADA_RETENTION_DAYS", default: 30, in: 1...3650) * 86_400
        crashAfterCommitOfType = environment.string("ARMADA_FAULT_CRASH_AFTER_COMMIT")
        crashAfterPrepareOfType = environment.string("ARMADA_FAULT_CRASH_AFTER_PREPARE")
    }
}
