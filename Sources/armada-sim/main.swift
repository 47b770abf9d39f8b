import Foundation
import Hummingbird
import Logging

// armada-sim: simulators of the outside services for tests and the local stack.
let environment = ProcessInfo.processInfo.environment
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardOutput(label: label)
    handler.logLevel = .info
    return handler
}
let logger = Logger(label: "armada-sim")
let settings = SimulatorSettings(
    port: Int(environment["SIM_TRIPAY_PORT"] ?? "") ?? 8091,
    apiKey: environment["TRIPAY_API_KEY"] ?? "DEV-fake-tripay-api-key",
    privateKey: environment["TRIPAY_PRIVATE_KEY"] ?? "dev-fake-tripay-private-key",
    merchantCode: environment["TRIPAY_MERCHANT_CODE"] ?? "T0001",
    callbackURL: environment["SIM_TRIPAY_CALLBACK_URL"] ?? "http://127.0.0.1:8080/api/v1/webhooks/tripay",
    callbackRetries: Int(environment["SIM_TRIPAY_CALLBACK_RETRIES"] ?? "") ?? 3,
    callbackInterval: .milliseconds(Int((Double(environment["SIM_TRIPAY_CALLBACK_INTERVAL_SECONDS"] ?? "") ?? 120) * 1000)),
    dedupeMerchantRef: environment["SIM_TRIPAY_DEDUPE_MERCHANT_REF"] == "1")
let simulator = TripaySimulator(settings: settings, logger: logger)
let app = Application(
    router: simulator.router(), configuration: .init(address: .hostname("127.0.0.1", port: settings.port), serverName: "tripay-simulator"),
    logger: logger)
logger.info("Tripay simulator listening", metadata: ["port": "\(settings.port)", "callback_url": "\(settings.callbackURL)"])
try await app.runService()
