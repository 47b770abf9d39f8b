import Foundation
import Hummingbird
import Logging

// armada-sim: simulators of the outside services for tests and the local stack.
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardOutput(label: label)
    handler.logLevel = .info
    return handler
}
let logger = Logger(label: "armada-sim")
let settings = SimulatorSettings(environment: ProcessInfo.processInfo.environment)
let simulator = TripaySimulator(settings: settings, logger: logger)
let app = Application(
    router: simulator.router(), configuration: .init(address: .hostname("127.0.0.1", port: settings.port), serverName: "tripay-simulator"),
    logger: logger)
logger.info("Tripay simulator listening", metadata: ["port": "\(settings.port)", "callback_url": "\(settings.callbackURL)"])
try await app.runService()
