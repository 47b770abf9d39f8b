import AMQP
import ArgumentParser
import ArmadaService
import Foundation
import Logging
import Messaging
import Migrations
import Postgres
import Wallet
import WalletContracts

@main
struct Armadactl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "armadactl",
        abstract: "Operate Armada: schema, queues, dead letters, wallets, deposits, DigitalOcean accounts, lifecycle ticks, the audit.",
        discussion: "Reads DATABASE_URL and AMQP_URL like every Armada process.",
        subcommands: [
            Migrate.self, TopologyCommand.self, Queues.self, DeadLetters.self, DepositCommand.self, WalletCommand.self,
            DOAccountsCommand.self, LifecycleCommand.self, Audit.self,
        ])
}
