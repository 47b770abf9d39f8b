import ArmadaService
import Foundation
import Ingress
import Logging
import Messaging
import Wallet

// armada-ingress: the HTTP edge. Verifies and publishes; never writes business state.
do {
    let settings = try Settings()
    let registry = Observability.bootstrap(service: "armada-ingress", settings: settings)
    let logger = Logger(label: "armada-ingress")
    let tripayKey = try settings.required("TRIPAY_PRIVATE_KEY")
    let topology = try Topology.bundled()
    let broker = try WorkerRuntime.brokerClient(settings: settings, name: "armada-ingress-publisher", topology: topology, logger: logger)
    let pool = WorkerRuntime.pool(settings: settings, name: "armada-ingress", size: 4, logger: logger)
    let tokens = try await TokenVerifier.make(
        secret: settings.environment["ARMADA_JWT_SECRET"], publicKeyPEM: settings.environment["ARMADA_JWT_PUBLIC_KEY"])
    let app = buildApplication(
        IngressDependencies(
            pool: pool, broker: broker, registry: registry, tripayPrivateKey: tripayKey, tokens: tokens,
            depositPolicy: try settings.depositPolicy()),
        port: settings.httpPort, logger: logger)
    logger.info("armada-ingress starting", metadata: ["port": "\(settings.httpPort)"])
    try await WorkerRuntime.run([BrokerService(client: broker), app], logger: logger)
} catch {
    FileHandle.standardError.write(Data("armada-ingress: \(error)\n".utf8))
    exit(1)
}
