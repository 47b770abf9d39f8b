import ArgumentParser
import Foundation
import Lifecycle
import Messaging

struct LifecycleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lifecycle", abstract: "Reminders, renewals, suspensions.", subcommands: [Tick.self])

    struct Tick: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish one lifecycle.tick with the given logical time (ops, tests, the demo move time this way).")
        @Option(help: "The tick's time, ISO 8601 (e.g. 2026-12-24T09:00:00Z); now when absent.") var at: String?
        @Option(help: "The period its id is derived from (ticks of one period take effect once).") var periodSeconds: Int = 60

        func run() async throws {
            let now: Date
            if let at {
                guard let parsed = ISO8601DateFormatter().date(from: at) else { throw ValidationError("--at must be an ISO 8601 time") }
                now = parsed
            } else {
                now = Date()
            }
            let broker = try await Tooling().broker()
            defer { Task { await broker.close() } }
            let id = LifecycleTick.id(at: now, periodSeconds: periodSeconds)
            try await broker.publish(Envelope(id: id, data: LifecycleTick(now: now), occurredAt: now))
            print("tick \(ISO8601DateFormatter().string(from: now)) published (\(id.uuidString.lowercased()))")
        }
    }
}
