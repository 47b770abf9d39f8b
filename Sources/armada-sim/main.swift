import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

// armada-sim: simulators of the outside services for tests and the local stack.
//   armada-sim                  Tripay, DigitalOcean and Telegram
//   armada-sim tripay           only Tripay (SIM_TRIPAY_PORT)
//   armada-sim digitalocean     only DigitalOcean (SIM_DO_PORT)
//   armada-sim telegram         only Telegram's Bot API (SIM_TELEGRAM_PORT)
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardOutput(label: label)
    handler.logLevel = .info
    return handler
}
let logger = Logger(label: "armada-sim")
let environment = ProcessInfo.processInfo.environment
let wanted = Set(CommandLine.arguments.dropFirst())
guard wanted.isSubset(of: ["tripay", "digitalocean", "telegram"]) else {
    FileHandle.standardError.write(Data("usage: armada-sim [tripay] [digitalocean] [telegram]\n".utf8))
    exit(2)
}
var services: [any Service] = []
if wanted.isEmpty || wanted.contains("tripay") {
    let settings = SimulatorSettings(environment: environment)
    let simulator = TripaySimulator(settings: settings, logger: logger)
    let app = Application(
        router: simulator.router(),
        configuration: .init(address: .hostname("127.0.0.1", port: settings.port), serverName: "tripay-simulator"), logger: logger)
    logger.info("Tripay simulator listening", metadata: ["port": "\(settings.port)", "callback_url": "\(settings.callbackURL)"])
    services.append(app)
}
if wanted.isEmpty || wanted.contains("digitalocean") {
    let settings = DigitalOceanSimSettings(environment: environment)
    let simulator = DigitalOceanSimulator(settings: settings, logger: logger)
    let app = Application(
        router: simulator.router(),
        configuration: .init(address: .hostname("127.0.0.1", port: settings.port), serverName: "digitalocean-simulator"),
        logger: logger)
    logger.info(
        "DigitalOcean simulator listening",
        metadata: ["port": "\(settings.port)", "accounts": "\(settings.tokens.count)", "boot_seconds": "\(settings.bootSeconds)"])
    services.append(app)
}
if wanted.isEmpty || wanted.contains("telegram") {
    let settings = TelegramSimSettings(environment: environment)
    let simulator = TelegramSimulator(settings: settings, logger: logger)
    let app = Application(
        router: simulator.router(),
        configuration: .init(address: .hostname("127.0.0.1", port: settings.port), serverName: "telegram-simulator"),
        logger: logger)
    // Never the tokens: they are the bots' passwords, and part of every request path.
    logger.info(
        "Telegram simulator listening",
        metadata: [
            "port": "\(settings.port)", "bots": "\(settings.tokens.count)", "chat_limit_per_second": "\(settings.chatLimitPerSecond)",
            "global_limit_per_second": "\(settings.globalLimitPerSecond)",
        ])
    services.append(app)
}
let group = ServiceGroup(
    configuration: .init(services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
try await group.run()
