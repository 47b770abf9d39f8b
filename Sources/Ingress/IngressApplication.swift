import AMQP
import Hummingbird
import Logging
import Operations
import OrdersContracts
import Postgres
import Prometheus
import WalletContracts

/// What the ingress needs from outside; tests build it against the local stack.
public struct IngressDependencies: Sendable {
    public var pool: PostgresPool
    /// A confirm-mode publisher connection.
    public var broker: BrokerClient
    public var registry: PrometheusCollectorRegistry
    public var tripayPrivateKey: String
    /// A rotated-out Tripay private key whose signatures are still accepted; nil outside a rotation.
    public var tripayPreviousPrivateKey: String?
    public var tokens: TokenVerifier
    public var depositPolicy: DepositPolicy
    /// Console links for `GET /orders/{id}/console`; nil answers CONSOLE_NOT_AVAILABLE.
    public var console: ConsoleLinks?
    /// Seals DigitalOcean tokens an admin adds; nil without ARMADA_ENCRYPTION_KEY.
    public var sealer: TokenSealer?
    /// Queues, outbox, dead letters and flags for `GET /api/v1/admin/ops` and the gauges; nil
    /// answers OPS_UNAVAILABLE.
    public var ops: OpsSampler?
    /// Rate limits and the Tripay callback allow-list; none by default (the process reads them
    /// from its environment, with limits on by default there).
    public var protection: IngressProtection

    public init(
        pool: PostgresPool, broker: BrokerClient, registry: PrometheusCollectorRegistry, tripayPrivateKey: String,
        tripayPreviousPrivateKey: String? = nil, tokens: TokenVerifier, depositPolicy: DepositPolicy, console: ConsoleLinks? = nil,
        sealer: TokenSealer? = nil, ops: OpsSampler? = nil, protection: IngressProtection = IngressProtection()
    ) {
        self.protection = protection
        self.tripayPreviousPrivateKey = tripayPreviousPrivateKey
        self.ops = ops
        self.sealer = sealer
        self.console = console
        self.pool = pool
        self.broker = broker
        self.registry = registry
        self.tripayPrivateKey = tripayPrivateKey
        self.tokens = tokens
        self.depositPolicy = depositPolicy
    }
}

/// The ingress router: health, readiness, metrics, the Tripay webhook and the customer API.
public func buildRouter(_ dependencies: IngressDependencies, logger: Logger) -> Router<IngressContext> {
    let router = Router(context: IngressContext.self)
    router.middlewares.add(APIErrorMiddleware())
    let protection = dependencies.protection
    let callbackPath = TripayWebhookController.path
    if let sources = protection.tripaySources {
        router.middlewares.add(CallbackSourceMiddleware(allowed: sources, addressing: protection.addressing, path: callbackPath))
    }
    if let limit = protection.perAddress {
        router.middlewares.add(
            RateLimitMiddleware(
                limit, scope: .address, addressing: protection.addressing, exempt: ["/health", "/ready", "/metrics", callbackPath]))
    }
    router.get("/health") { _, _ in jsonResponse(["status": "ok"]) }
    router.get("/ready") { _, _ in
        await readiness(dependencies)
    }
    router.get("/metrics") { _, _ -> Response in
        var buffer: [UInt8] = []
        dependencies.registry.emit(into: &buffer)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
    }
    OpsAPI(sampler: dependencies.ops).addPage(to: router)
    TripayWebhookController(
        privateKeys: [dependencies.tripayPrivateKey] + [dependencies.tripayPreviousPrivateKey].compactMap { $0 },
        broker: dependencies.broker, logger: logger
    )
    .addRoutes(to: router)
    var api = router.group("/api/v1").add(middleware: Authenticator(verifier: dependencies.tokens))
    if let limit = protection.perCustomer {
        api = api.add(middleware: RateLimitMiddleware(limit, scope: .customer, addressing: protection.addressing))
    }
    let gateway = CommandGateway(pool: dependencies.pool, broker: dependencies.broker, logger: logger)
    CustomerAPI(pool: dependencies.pool, gateway: gateway, depositPolicy: dependencies.depositPolicy).addRoutes(to: api)
    PromoAPI(pool: dependencies.pool, gateway: gateway).addRoutes(to: api)
    OrdersAPI(pool: dependencies.pool, gateway: gateway, console: dependencies.console).addRoutes(to: api)
    AdminCatalogAPI(pool: dependencies.pool, gateway: gateway, sealer: dependencies.sealer).addRoutes(to: api)
    OpsAPI(sampler: dependencies.ops).addRoutes(to: api)
    return router
}

/// 200 when Postgres answers and the broker connection is open; 503 naming what is not.
func readiness(_ dependencies: IngressDependencies) async -> Response {
    let database: Bool
    do {
        database = try await dependencies.pool.withConnection { try $0.query("SELECT 1 AS ok").count == 1 }
    } catch {
        database = false
    }
    let broker = dependencies.broker.isConnected
    let status: HTTPResponse.Status = database && broker ? .ok : .serviceUnavailable
    return jsonResponse(
        [
            "status": status == .ok ? "ready" : "not_ready",
            "checks": ["postgres": database ? "up" : "down", "rabbitmq": broker ? "up" : "down"],
        ],
        status: status)
}

public func buildApplication(_ dependencies: IngressDependencies, port: Int, logger: Logger) -> some ApplicationProtocol {
    Application(
        router: buildRouter(dependencies, logger: logger),
        configuration: .init(address: .hostname("0.0.0.0", port: port), serverName: "armada-ingress"),
        logger: logger)
}
