import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// Logging and metrics for one process: JSON (or plain text) logs at the configured level,
/// swift-metrics exported in Prometheus text format.
public enum Observability {
    /// Bootstraps the logging and metrics systems once per process; returns the registry
    /// `/metrics` renders.
    public static func bootstrap(settings: ProcessSettings) -> PrometheusCollectorRegistry {
        let level = settings.logLevel
        if settings.logFormat == .text {
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardOutput(label: label)
                handler.logLevel = level
                return handler
            }
        } else {
            LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    /// `GET /metrics` (Prometheus text format) and `GET /health` on a router.
    public static func addEndpoints<Context: RequestContext>(to router: Router<Context>, registry: PrometheusCollectorRegistry) {
        router.get("/metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        router.get("/health") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
    }

    /// A small HTTP server for a worker's `/metrics`, `/health` (the process runs) and
    /// `/ready` (200 while `ready` names nothing down, else 503 naming what is: Kubernetes'
    /// readiness probe and a load balancer's check).
    public static func metricsServer(
        port: Int, registry: PrometheusCollectorRegistry, logger: Logger, ready: @escaping @Sendable () async -> [String: Bool] = { [:] }
    ) -> some Service {
        let router = Router()
        addEndpoints(to: router, registry: registry)
        router.get("/ready") { _, _ -> Response in
            let checks = await ready()
            let isReady = checks.values.allSatisfy { $0 }
            let body = try JSONSerialization.data(
                withJSONObject: [
                    "status": isReady ? "ready" : "not_ready", "checks": checks.mapValues { $0 ? "up" : "down" },
                ], options: [.sortedKeys])
            return Response(
                status: isReady ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        return Application(
            router: router, configuration: .init(address: .hostname("0.0.0.0", port: port), serverName: "armada-metrics"), logger: logger)
    }
}
