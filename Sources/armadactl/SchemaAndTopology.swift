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
