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
        abstract: "Operate Armada: schema, queues, dead letters, wallets and deposits.",
        discussion: "Reads DATABASE_URL and AMQP_URL like every Armada process.",
        subcommands: [Migrate.self, TopologyCommand.self, Queues.self, DeadLetters.self, DepositCommand.self, WalletCommand.self])
}

/// Shared set-up for the subcommands: settings, a quiet logger, connections on demand.
struct Tooling {
    let settings: ProcessSettings
    let logger: Logger

    init() throws {
        settings = try ProcessSettings(defaultMetricsPort: 9100)
        var logger = Logger(label: "armadactl") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = settings.environment.string("ARMADA_LOG_LEVEL").flatMap(Logger.Level.init(rawValue:)) ?? .warning
        self.logger = logger
    }

    func pool() -> PostgresPool {
        Connections.pool(settings, name: "armadactl", size: 1, logger: logger)
    }

    /// A broker connection; `declaring` the bundled topology first (every command but the one
    /// that migrates it).
    func broker(declaring: Bool = true) async throws -> BrokerClient {
        let client = try Connections.broker(
            settings, name: "armadactl", topology: declaring ? try Topology.bundled() : nil, logger: logger)
        client.start()
        try await client.waitUntilConnected(timeout: .seconds(15))
        return client
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the numbered SQL migrations (safe to run twice, or from two processes at once).")

    func run() async throws {
        let tooling = try Tooling()
        let applied = try await Migrator(pool: tooling.pool(), logger: tooling.logger).migrate()
        print(applied.isEmpty ? "schema up to date (\(Migrator.all.count) migrations)" : "applied: \(applied.joined(separator: ", "))")
    }
}

struct TopologyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology", abstract: "The broker topology from Queues/topology.json.", subcommands: [Apply.self])

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Declare exchanges, queues, delay tiers and dead-letter queues (idempotent).",
            discussion: """
                A queue whose arguments changed is recreated when it is empty and has no consumer. One that \
                holds messages or has consumers is left alone and reported, unless --force: then its \
                messages wait in a holding queue while it is recreated, and are moved back.
                """)

        @Flag(help: "Recreate changed queues even when they hold messages or have consumers (messages are kept).")
        var force = false

        func run() async throws {
            let tooling = try Tooling()
            let client = try await tooling.broker(declaring: false)
            let topology = try Topology.bundled()
            let report = try await TopologyMigration(topology: topology).run(on: client, force: force)
            await client.close()
            for (queue, moved) in report.recreated {
                print("recreated \(queue) with the new arguments (\(moved) message(s) moved and back)")
            }
            for (queue, messages, consumers) in report.refused {
                print("NOT recreated \(queue): its arguments changed but it holds \(messages) message(s) and \(consumers) consumer(s);")
                print("  stop its consumers and let it drain, or run again with --force (messages are kept)")
            }
            guard report.refused.isEmpty else { throw ExitCode(3) }
            let queues = try topology.queueShapes().count
            print("topology applied: \(topology.exchanges.count) exchanges, \(queues) queues")
        }
    }
}

struct Queues: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Depth and consumers of every queue, dead-letter queue and delay tier.")

    func run() async throws {
        let tooling = try Tooling()
        let client = try await tooling.broker()
        let topology = try Topology.bundled()
        print("QUEUE".padding(toLength: 36, withPad: " ", startingAt: 0) + "MESSAGES  CONSUMERS")
        var warnings: [String] = []
        for declaration in topology.queues {
            let policy = try topology.policy(for: declaration.name)
            for name in policy.allQueues {
                let status = try await client.queueStatus(name)
                print(
                    name.padding(toLength: 36, withPad: " ", startingAt: 0)
                        + String(status.messages).padding(toLength: 10, withPad: " ", startingAt: 0) + String(status.consumers))
                if name == policy.name, status.messages > 0, status.consumers == 0 {
                    warnings.append(
                        "WARNING: \(name) holds \(status.messages) message(s) and has no consumer: is \(declaration.consumer ?? "its worker") running?"
                    )
                }
                if name == policy.deadLetterQueue, status.messages > 0 {
                    warnings.append(
                        "WARNING: \(name) holds \(status.messages) dead letter(s): armadactl dead-letters list --queue \(policy.name)")
                }
            }
        }
        await client.close()
        for warning in warnings { print(warning) }
    }
}

struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters", abstract: "Inspect, replay or purge a queue's dead letters.",
        subcommands: [List.self, Replay.self, Purge.self])

    struct Options: ParsableArguments {
        @Option(help: "The work queue, e.g. armada.payments.") var queue: String
        @Option(help: "At most this many messages.") var limit: Int = 20
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show dead letters with their error; they stay in the queue.")
        @OptionGroup var options: Options

        func run() async throws {
            let tooling = try Tooling()
            let client = try await tooling.broker()
            let queue = try Topology.bundled().policy(for: options.queue).deadLetterQueue
            var shown = 0
            while shown < options.limit, let message = try await client.perform({ try $0.get(queue: queue) }) {
                shown += 1
                let h = message.properties.headers
                print("- id: \(message.properties.messageId ?? "?")  type: \(message.properties.type ?? "?")")
                print(
                    "  error (\(h["x-error-class"]?.stringValue ?? "?"), attempts \(h["x-attempts"]?.stringValue ?? "?")): \(h["x-error"]?.stringValue ?? "?")"
                )
                print(
                    "  from: \(h["x-original-exchange"]?.stringValue ?? "?") / \(h["x-original-routing-key"]?.stringValue ?? "?") at \(h["x-dead-lettered-at"]?.stringValue ?? "?")"
                )
                print("  body: \(String(decoding: message.body.prefix(400), as: UTF8.self))")
            }
            print("\(shown) dead letter(s) shown from \(queue)")
            // Unacknowledged messages return to the queue when the connection closes.
            await client.close()
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send dead letters back to the queue they died in, with a fresh attempt count.")
        @OptionGroup var options: Options

        func run() async throws {
            let tooling = try Tooling()
            let client = try await tooling.broker()
            let policy = try Topology.bundled().policy(for: options.queue)
            let replayed = try await Messaging.DeadLetters.replay(policy, on: client, limit: options.limit, at: Date())
            print("replayed \(replayed) dead letter(s) from \(policy.deadLetterQueue) to \(policy.name)")
            await client.close()
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete every dead letter of a queue.")
        @Option(help: "The work queue, e.g. armada.payments.") var queue: String

        func run() async throws {
            let tooling = try Tooling()
            let client = try await tooling.broker()
            let dead = try Topology.bundled().policy(for: queue).deadLetterQueue
            let count = try await client.perform { try $0.purgeQueue(dead) }
            print("purged \(count) dead letter(s) from \(dead)")
            await client.close()
        }
    }
}

struct DepositCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deposit", abstract: "Deposits (until the customer API creates them).", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a PENDING deposit that Tripay knows by --reference.")
        @Option(help: "Customer id (the JWT sub).") var customer: String
        @Option(help: "Tripay reference.") var reference: String
        @Option(help: "Rupiah to credit when paid.") var amount: Int64
        @Option(help: "Channel fee the customer pays on top.") var fee: Int64 = 0
        @Option(help: "Tripay channel code.") var method: String = "BRIVA"
        @Option(help: "Hours until it expires.") var expiresInHours: Int = 24

        func validate() throws {
            guard amount >= DepositPolicy.minimumAmount else {
                throw ValidationError("--amount must be at least \(DepositPolicy.minimumAmount)")
            }
            guard fee >= 0 else { throw ValidationError("--fee cannot be negative") }
        }

        func run() async throws {
            let tooling = try Tooling()
            let (customer, reference, amount, fee, method) = (customer, reference, amount, fee, method)
            let expires = Date().addingTimeInterval(Double(expiresInHours) * 3600)
            let deposit = try await tooling.pool().transaction { connection in
                try Deposits.insert(
                    NewDeposit(
                        id: UUID(), customerId: customer, amount: amount, fee: fee, method: method, reference: reference, expiresAt: expires
                    ),
                    on: connection)
            }
            guard let deposit else { throw ValidationError("the deposit was not recorded") }
            print(
                "deposit \(deposit.id.uuidString.lowercased()) PENDING: reference \(reference), merchant_ref \(deposit.merchantRef), amount \(deposit.amount), total to pay \(deposit.totalAmount)"
            )
        }
    }
}

struct WalletCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "wallet", abstract: "Wallets.", subcommands: [Balance.self])

    struct Balance: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a customer's balance in rupiah.")
        @Option(help: "Customer id.") var customer: String

        func run() async throws {
            let customer = self.customer
            let balance = try await Tooling().pool().withConnection { try Ledger.balance(of: customer, on: $0) }
            print(balance)
        }
    }
}
