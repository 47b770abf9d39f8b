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
