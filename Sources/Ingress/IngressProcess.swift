import AMQP
import ArmadaService
import Foundation
import Logging
import Messaging
import Operations
import OrdersContracts
import WalletContracts

/// The ingress's settings (README, Configuration), parsed once at start.
public struct IngressSettings: Sendable {
    public var process: ProcessSettings
    public var httpPort: Int
    public var tripayPrivateKey: String
    /// TRIPAY_PRIVATE_KEY_PREVIOUS: during a key rotation, callbacks signed with the old key still verify.
    public var tripayPreviousPrivateKey: String?
    public var jwtSecret: String?
    public var jwtSecretPrevious: String?
    public var jwtPublicKeyPEMPrevious: String?
    public var jwtPublicKeyPEM: String?
    public var jwtIssuer: String?
    public var jwtAudience: String?
    public var deposits: DepositPolicy
    public var console: ConsoleLinks?
    public var sealer: TokenSealer?
    public var protection: IngressProtection

    public init(_ environment: EnvironmentReader = EnvironmentReader()) throws {
        process = try ProcessSettings(environment, defaultMetricsPort: 9100)
        httpPort = try environment.int("ARMADA_HTTP_PORT", default: 8080, in: 1...65535)
        tripayPrivateKey = try environment.required("TRIPAY_PRIVATE_KEY")
        tripayPreviousPrivateKey = environment.string("TRIPAY_PRIVATE_KEY_PREVIOUS")
        jwtSecret = environment.string("ARMADA_JWT_SECRET")
        jwtSecretPrevious = environment.string("ARMADA_JWT_SECRET_PREVIOUS")
        jwtPublicKeyPEMPrevious = environment.string("ARMADA_JWT_PUBLIC_KEY_PREVIOUS").map(Self.pem)
        jwtPublicKeyPEM = environment.string("ARMADA_JWT_PUBLIC_KEY").map(Self.pem)
        jwtIssuer = environment.string("ARMADA_JWT_ISSUER")
        jwtAudience = environment.string("ARMADA_JWT_AUDIENCE")
        deposits = try DepositPolicy(environment)
        protection = try IngressProtection(environment)
        if environment.string("ARMADA_ENCRYPTION_KEY") != nil { sealer = try TokenSealer(environment) }
        if let template = environment.string("ARMADA_CONSOLE_URL_TEMPLATE") {
            console = ConsoleLinks(template: template, signingKey: try environment.required("ARMADA_CONSOLE_SIGNING_KEY"))
        }
    }
}

extension IngressSettings {
    /// A PEM as an environment variable: with real newlines, or on one line with `\n` escapes
    /// (what env files and `kubectl create secret --from-env-file` can hold).
    static func pem(_ value: String) -> String {
        value.contains("\n") ? value : value.replacingOccurrences(of: "\\n", with: "\n")
    }

    /// The keys being rotated out, by variable name: each is accepted until removed.
    var previousKeys: [String] {
        [
            ("TRIPAY_PRIVATE_KEY_PREVIOUS", tripayPreviousPrivateKey), ("ARMADA_JWT_SECRET_PREVIOUS", jwtSecretPrevious),
            ("ARMADA_JWT_PUBLIC_KEY_PREVIOUS", jwtPublicKeyPEMPrevious),
        ].compactMap { $0.1?.isEmpty == false ? $0.0 : nil }
    }
}

/// Makes the ingress process: settings, logs, metrics, a confirm-mode publisher, the pool and
/// the HTTP application. On SIGTERM the HTTP server stops first (in-flight requests finish),
/// then the broker connection closes.
public enum IngressProcess {
    public static func main() async -> Never {
        await ProcessRunner.main(name: "armada-ingress") {
            let settings = try IngressSettings()
            let registry = Observability.bootstrap(settings: settings.process)
            let logger = Logger(label: "armada-ingress")
            let broker = try Connections.broker(
                settings.process, name: "armada-ingress-publisher", topology: try Topology.bundled(), logger: logger)
            let pool = Connections.pool(settings.process, name: "armada-ingress", size: 4, logger: logger)
            let tokens = try await TokenVerifier.make(
                secret: settings.jwtSecret, publicKeyPEM: settings.jwtPublicKeyPEM, issuer: settings.jwtIssuer,
                audience: settings.jwtAudience, previousSecret: settings.jwtSecretPrevious,
                previousPublicKeyPEM: settings.jwtPublicKeyPEMPrevious)
            // Queue depth, consumers, dead letters, outbox and flags as gauges every 15 s, and
            // the ops page's data (its own pool connection: a slow snapshot never holds the API's).
            let ops = OpsSampler(
                collector: try OpsCollector(
                    environment: settings.process.environment, amqpURL: settings.process.amqpURL,
                    pool: Connections.pool(settings.process, name: "armada-ingress-ops", size: 1, logger: logger), broker: broker),
                interval: .seconds(try settings.process.environment.int("ARMADA_OPS_SAMPLE_SECONDS", default: 15, in: 1...3600)),
                logger: logger)
            let app = buildApplication(
                IngressDependencies(
                    pool: pool, broker: broker, registry: registry, tripayPrivateKey: settings.tripayPrivateKey,
                    tripayPreviousPrivateKey: settings.tripayPreviousPrivateKey, tokens: tokens,
                    depositPolicy: settings.deposits, console: settings.console, sealer: settings.sealer, ops: ops,
                    protection: settings.protection),
                port: settings.httpPort, logger: logger)
            // A command whose confirm did not come waits in the outbox; every worker's relay
            // publishes it (the ingress stays thin and runs none).
            logger.info(
                "armada-ingress starting",
                metadata: [
                    "port": "\(settings.httpPort)",
                    "rate_limit_per_ip": "\(settings.protection.perAddress.map(\.description) ?? "off")",
                    "rate_limit_per_customer": "\(settings.protection.perCustomer.map(\.description) ?? "off")",
                    "tripay_callback_sources":
                        "\(settings.protection.tripaySources.map { $0.map(\.description).joined(separator: ",") } ?? "any")",
                ])
            if settings.protection.perAddress != nil, settings.protection.addressing.trustedProxies.isEmpty {
                // Behind a load balancer or the frontends' servers every client would share one bucket.
                logger.notice(
                    "the per-address rate limit keys on the connection's peer; behind proxies of yours set ARMADA_TRUSTED_PROXIES")
            }
            if !settings.previousKeys.isEmpty {
                // A rotation's overlap: remove the old key once nothing signed with it is in flight.
                logger.warning(
                    "previous keys still accepted (a key rotation in progress)",
                    metadata: ["variables": "\(settings.previousKeys.joined(separator: ","))"])
            }
            return ([BrokerService(client: broker), ops, app], settings.process.shutdownDeadline, logger)
        }
    }
}
