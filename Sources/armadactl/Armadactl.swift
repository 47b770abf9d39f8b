import AMQP
import ArgumentParser
import ArmadaService
import Foundation
import Logging
import Messaging
import Migrations
import Postgres
import Wallet

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
    let settings: Settings
    let logger: Logger

    init() throws {
        settings = try Settings()
        var logger = Logger(label: "armadactl") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = Logger.Level(rawValue: settings.environment["ARMADA_LOG_LEVEL"] ?? "warning") ?? .warning
        self.logger = logger
    }

    func pool() -> PostgresPool {
        WorkerRuntime.pool(settings: settings, name: "armadactl", size: 1, logger: logger)
    }

    /// A broker connection that declares the topology first.
    func broker() async throws -> BrokerClient {
        let client = try WorkerRuntime.brokerClient(settings: settings, name: "armadactl", topology: try Topology.bundled(), logger: logger)
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
            abstract: "Declare exchanges, queues, delay tiers and dead-letter queues (idempotent).")

        func run() async throws {
            let tooling = try Tooling()
            let client = try await tooling.broker()
            let topology = try Topology.bundled()
            await client.close()
            let queues = try topology.queues.flatMap { try topology.policy(for: $0.name).allQueues }
            print("topology applied: \(topology.exchanges.count) exchanges, \(queues.count) queues")
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
        for declaration in topology.queues {
            for name in try topology.policy(for: declaration.name).allQueues {
                let status = try await client.queueStatus(name)
                print(
                    name.padding(toLength: 36, withPad: " ", startingAt: 0)
                        + String(status.messages).padding(toLength: 10, withPad: " ", startingAt: 0) + String(status.consumers))
            }
        }
        await client.close()
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
            abstract: "Publish dead letters back to where they came from, with a fresh attempt count.")
        @OptionGroup var options: Options

        func run() async throws {
            let tooling = try Tooling()
            let client = try await tooling.broker()
            let queue = try Topology.bundled().policy(for: options.queue).deadLetterQueue
            var replayed = 0
            while replayed < options.limit, let message = try await client.perform({ try $0.get(queue: queue) }) {
                var properties = message.properties
                let exchange = properties.headers["x-original-exchange"]?.stringValue ?? Exchange.commands
                let routingKey = properties.headers["x-original-routing-key"]?.stringValue ?? message.routingKey
                for key in [
                    "x-error", "x-error-class", "x-attempts", "x-attempt", "x-last-error", "x-dead-lettered-at",
                    "x-original-queue", "x-original-exchange", "x-original-routing-key",
                ] {
                    properties.headers[key] = nil
                }
                properties.headers["x-replayed-at"] = .string(ISO8601DateFormatter().string(from: Date()))
                try await client.publish(exchange: exchange, routingKey: routingKey, properties: properties, body: message.body)
                let tag = message.deliveryTag
                try await client.perform { try $0.ack(tag) }
                replayed += 1
            }
            print("replayed \(replayed) dead letter(s) from \(queue)")
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
            guard amount >= Deposit.minimumAmount else { throw ValidationError("--amount must be at least \(Deposit.minimumAmount)") }
            guard fee >= 0 else { throw ValidationError("--fee cannot be negative") }
        }

        func run() async throws {
            let tooling = try Tooling()
            let (customer, reference, amount, fee, method) = (customer, reference, amount, fee, method)
            let expires = Date().addingTimeInterval(Double(expiresInHours) * 3600)
            let deposit = try await tooling.pool().transaction { connection in
                try Deposits.insertPending(
                    id: UUID(), customerId: customer, amount: amount, fee: fee, method: method, reference: reference, expiresAt: expires,
                    on: connection)
            }
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
