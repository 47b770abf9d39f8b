import AMQP
import ArgumentParser
import ArmadaService
import Foundation
import Logging
import Messaging
import Operations

struct Queues: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Every queue, delay tier and dead-letter queue: ready, unacknowledged, consumers, rates, oldest; the outbox.",
        discussion: """
            Counts and rates come from RabbitMQ's management API when RABBITMQ_MANAGEMENT_URL is set \
            (http://user:password@host:port), else from passive declares (ready and consumers only). \
            OLDEST is how long the queue has held ready messages without a break, as sampled \
            (by the ingress every 15 s and by this command). Exits 0 even with warnings; --json for scripts.
            """)

    @Flag(help: "Print the snapshot as JSON.") var json = false
    @Option(help: "Refresh every N seconds until interrupted.") var watch: Int?
    @Flag(help: "Show delay tiers and dead-letter queues even when empty.") var all = false

    func validate() throws {
        if let watch, watch < 1 { throw ValidationError("--watch needs at least 1 second") }
    }

    func run() async throws {
        let tooling = try Tooling()
        let client = try await tooling.broker()
        let collector = try OpsCollector(
            environment: tooling.settings.environment, amqpURL: tooling.settings.amqpURL, pool: tooling.pool(), broker: client)
        repeat {
            let snapshot = try await collector.snapshot()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(snapshot), as: UTF8.self))
            } else {
                if watch != nil { print("\u{1B}[H\u{1B}[2J", terminator: "") }
                print(Self.table(snapshot, all: all))
            }
            if let watch { try await Task.sleep(for: .seconds(watch)) }
        } while watch != nil
        await client.close()
    }

    static func table(_ snapshot: OpsSnapshot, all: Bool) -> String {
        func column(_ text: String, _ width: Int) -> String {
            text.count >= width ? text + " " : text.padding(toLength: width, withPad: " ", startingAt: 0)
        }
        func rate(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "-" }
        func age(_ seconds: Double?) -> String {
            guard let seconds else { return "-" }
            return seconds < 120 ? "\(Int(seconds))s" : seconds < 7200 ? "\(Int(seconds / 60))m" : "\(Int(seconds / 3600))h"
        }
        var lines = [
            column("QUEUE", 40) + column("READY", 8) + column("UNACKED", 9) + column("CONSUMERS", 11) + column("IN/S", 8)
                + column("OUT/S", 8) + "OLDEST"
        ]
        for queue in snapshot.queues where all || queue.kind == .work || queue.ready > 0 || (queue.unacknowledged ?? 0) > 0 {
            lines.append(
                column(queue.kind == .work ? queue.name : "  " + queue.name, 40) + column("\(queue.ready)", 8)
                    + column(queue.unacknowledged.map(String.init) ?? "-", 9) + column("\(queue.consumers)", 11)
                    + column(rate(queue.publishRate), 8) + column(rate(queue.deliverRate), 8) + age(queue.oldestReadySeconds))
        }
        lines.append("")
        if let outbox = snapshot.outbox {
            lines.append("outbox: \(outbox.backlog) unpublished, oldest \(age(outbox.oldestSeconds)), \(outbox.stuck) stuck")
        } else {
            lines.append("outbox: unknown (PostgreSQL did not answer)")
        }
        lines.append("dead letters: \(snapshot.deadLetters)")
        let flags = snapshot.depositFlags.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        lines.append("deposit flags: " + (flags.isEmpty ? "none" : flags.joined(separator: ", ")))
        lines.append("(counts from \(snapshot.brokerSource == "management" ? "the management API" : "AMQP: no unacked counts or rates"))")
        for warning in snapshot.warnings { lines.append("WARNING: " + warning) }
        return lines.joined(separator: "\n")
    }
}

struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters", abstract: "List, show, replay or purge a queue's dead letters, filtered by type, error or id.",
        subcommands: [List.self, Show.self, Replay.self, Purge.self])

    struct Options: ParsableArguments {
        @Option(help: "The work queue, e.g. armada.payments.") var queue: String
        @Option(help: "Only letters of this message type, e.g. payments.tripay-callback.") var type: String?
        @Option(help: "Only letters whose error contains this text (any case).") var error: String?
        @Option(help: "Only the letter with this message id.") var id: String?
        @Option(help: "At most this many letters.") var limit: Int = 20

        var filter: DeadLetterBrowser.Filter { .init(type: type, error: error, messageId: id) }

        func browser(_ client: BrokerClient) throws -> DeadLetterBrowser {
            DeadLetterBrowser(client: client, policy: try Topology.bundled().policy(for: queue))
        }
    }

    /// Progress on standard error for long walks (standard output stays the result).
    static func progress(_ verb: String) -> @Sendable (Int, Int) -> Void {
        { done, looked in FileHandle.standardError.write(Data("\(verb) \(done) of \(looked) looked at\n".utf8)) }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Dead letters with their error; they stay in the queue.")
        @OptionGroup var options: Options
        @Flag(help: "Print as JSON lines.") var json = false

        func run() async throws {
            let client = try await Tooling().broker()
            let letters = try await options.browser(client).run(.show, filter: options.filter, limit: options.limit)
            for letter in letters {
                if json {
                    print(String(decoding: try JSONEncoder().encode(letter), as: UTF8.self))
                    continue
                }
                print("- id: \(letter.messageId ?? "?")  type: \(letter.type ?? "?")")
                print("  error (\(letter.errorClass ?? "?"), attempts \(letter.attempts ?? "?")): \(letter.error ?? "?")")
                print(
                    "  from: \(letter.originalExchange ?? "?") / \(letter.originalRoutingKey ?? "?") at \(letter.deadLetteredAt ?? "?")"
                )
                print("  body: \(letter.body.prefix(400))")
            }
            if !json { print("\(letters.count) dead letter(s) shown from \(options.queue).dead") }
            await client.close()
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One dead letter in full: every header and the whole body.")
        @Option(help: "The work queue, e.g. armada.payments.") var queue: String
        @Argument(help: "The letter's message id.") var id: String

        func run() async throws {
            let client = try await Tooling().broker()
            let policy = try Topology.bundled().policy(for: queue)
            let letters = try await DeadLetterBrowser(client: client, policy: policy).run(
                .show, filter: .init(messageId: id), limit: 1)
            await client.close()
            guard let letter = letters.first else { throw ValidationError("no dead letter \(id) in \(policy.deadLetterQueue)") }
            print("id: \(letter.messageId ?? "?")\ntype: \(letter.type ?? "?")")
            for (key, value) in letter.headers.sorted(by: { $0.key < $1.key }) { print("\(key): \(value)") }
            let pretty = (try? JSONSerialization.jsonObject(with: Data(letter.body.utf8))).flatMap {
                try? JSONSerialization.data(withJSONObject: $0, options: [.prettyPrinted, .sortedKeys])
            }
            print("\n" + (pretty.map { String(decoding: $0, as: UTF8.self) } ?? letter.body))
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send dead letters back to the queue they died in, with a fresh attempt count (the inbox makes a repeat a no-op).")
        @OptionGroup var options: Options

        func run() async throws {
            let client = try await Tooling().broker()
            let replayed = try await options.browser(client).run(
                .replay, filter: options.filter, limit: options.limit, progress: DeadLetters.progress("replayed"))
            print("replayed \(replayed.count) dead letter(s) from \(options.queue).dead to \(options.queue)")
            await client.close()
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete dead letters (those matching the filters, or all of them); asks first unless --yes.")
        @Option(help: "The work queue, e.g. armada.payments.") var queue: String
        @Option(help: "Only letters of this message type.") var type: String?
        @Option(help: "Only letters whose error contains this text (any case).") var error: String?
        @Option(help: "Only the letter with this message id.") var id: String?
        @Flag(help: "Do not ask for confirmation.") var yes = false

        func run() async throws {
            let client = try await Tooling().broker()
            let policy = try Topology.bundled().policy(for: queue)
            let filtered = type != nil || error != nil || id != nil
            let waiting = try await client.queueStatus(policy.deadLetterQueue).messages
            if !yes {
                let what =
                    filtered
                    ? "the dead letters of \(policy.deadLetterQueue) matching the filters"
                    : "all \(waiting) dead letters of \(policy.deadLetterQueue)"
                print("Delete \(what)? They cannot be brought back. Type 'yes': ", terminator: "")
                guard readLine()?.trimmingCharacters(in: .whitespaces) == "yes" else {
                    print("nothing deleted")
                    await client.close()
                    throw ExitCode(1)
                }
            }
            let count: Int
            if filtered {
                count = try await DeadLetterBrowser(client: client, policy: policy).run(
                    .discard, filter: .init(type: type, error: error, messageId: id), limit: Int.max,
                    progress: DeadLetters.progress("purged")
                ).count
            } else {
                count = Int(try await client.perform { try $0.purgeQueue(policy.deadLetterQueue) })
            }
            print("purged \(count) dead letter(s) from \(policy.deadLetterQueue)")
            await client.close()
        }
    }
}
