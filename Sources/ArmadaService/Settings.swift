import Foundation

/// Configuration from environment variables, with the documented defaults (README).
public struct Settings: Sendable {
    public var databaseURL: String
    public var amqpURL: String
    public var httpPort: Int
    public var metricsPort: Int
    public var logLevel: String
    public var logFormat: String
    /// Handlers in flight per consumer process.
    public var concurrency: Int
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, defaultMetricsPort: Int = 9100) throws {
        self.environment = environment
        databaseURL = environment["DATABASE_URL"] ?? "postgresql://armada@127.0.0.1:55432/armada"
        amqpURL = environment["AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:55672/%2f"
        httpPort = try Self.int(environment, "ARMADA_HTTP_PORT", default: 8080)
        metricsPort = try Self.int(environment, "ARMADA_METRICS_PORT", default: defaultMetricsPort)
        logLevel = environment["ARMADA_LOG_LEVEL"] ?? "info"
        logFormat = environment["ARMADA_LOG_FORMAT"] ?? "json"
        concurrency = try Self.int(environment, "ARMADA_CONCURRENCY", default: 8)
    }

    /// A secret the process cannot run without: missing means a clear error at start.
    public func required(_ name: String) throws -> String {
        guard let value = environment[name], !value.isEmpty else {
            throw SettingsError("\(name) is not set; see README.md, Configuration")
        }
        return value
    }

    static func int(_ environment: [String: String], _ name: String, default value: Int) throws -> Int {
        guard let text = environment[name] else { return value }
        guard let number = Int(text), number >= 0 else { throw SettingsError("\(name) must be a whole number, got '\(text)'") }
        return number
    }
}

public struct SettingsError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
