import AMQP
import ArmadaTestSupport
import Foundation
import Messaging
import Operations
import Testing

/// Messages nobody in Armada would publish, put straight onto every work queue of the running
/// system: bytes that are not JSON, an envelope of an unknown type, every known type with data
/// of the wrong shape, a body of 2 MiB. Each must reach its queue's dead-letter queue with the
/// error in its headers, and every worker must still be up afterwards.
@Suite("Hostile messages on every queue")
struct HostileMessagesTests {
    struct Probe {
        var queue: String
        var messageId: String
        var body: [UInt8]
        var type: String?
        /// The `x-error-class` the dead letter must carry.
        var errorClass: String
    }

    static func envelope(id: UUID, type: String, data: String) -> [UInt8] {
        Array(
            #"{"id":"\#(id.uuidString.lowercased())","type":"\#(type)","version":1,"occurredAt":"2026-11-26T00:00:00Z","data":\#(data)}"#
                .utf8)
    }

    static func probes() throws -> [Probe] {
        let topology = try Topology.bundled()
        var probes: [Probe] = []
        for queue in topology.queues where queue.consumer != nil {
            let garbage = UUID()
            probes.append(
                Probe(
                    queue: queue.name, messageId: garbage.uuidString.lowercased(), body: [0xFF, 0xFE, 0x00] + Array("not json {".utf8),
                    type: nil, errorClass: "undecodable"))
            let unknown = UUID()
            probes.append(
                Probe(
                    queue: queue.name, messageId: unknown.uuidString.lowercased(),
                    body: envelope(id: unknown, type: "hostile.no-such-type", data: "{}"), type: "hostile.no-such-type",
                    errorClass: "unknown-type"))
            let large = UUID()
            probes.append(
                Probe(
                    queue: queue.name, messageId: large.uuidString.lowercased(),
                    body: envelope(id: large, type: "hostile.large", data: "\"" + String(repeating: "x", count: 2 << 20) + "\""),
                    type: "hostile.large", errorClass: "too-large"))
        }
        // Every type the catalogue has, with data of the wrong shape, on each queue it routes to.
        let examples = TestEnvironment.repositoryRoot.appendingPathComponent("Queues/examples")
        for file in try FileManager.default.contentsOfDirectory(atPath: examples.path).sorted() where file.hasSuffix(".json") {
            let type = String(file.dropLast(5))
            let queues = topology.queues(routing: type, on: "armada.commands") + topology.queues(routing: type, on: "armada.events")
            for queue in queues where queue.consumer != nil {
                let id = UUID()
                probes.append(
                    Probe(
                        queue: queue.name, messageId: id.uuidString.lowercased(),
                        body: envelope(id: id, type: type, data: #"{"hostile":[1,{"deep":null}],"amount":"-1e400"}"#), type: type,
                        errorClass: "poison"))
            }
        }
        return probes
    }

    @Test(
        "not JSON, unknown types, every known type malformed, 2 MiB bodies: each dead-lettered with its error class; every worker stays up")
    func deadLettered() async throws {
        _ = try await RunningSystem.shared.baseURL()
        let broker = try await brokerClient(TestEnvironment.amqpURL)
        let topology = try Topology.bundled()
        let probes = try Self.probes()
        #expect(probes.count > 30, "\(probes.count) probes")
        for probe in probes {
            try await broker.publish(
                exchange: "", routingKey: probe.queue,
                properties: MessageProperties(messageId: probe.messageId, type: probe.type), body: probe.body)
        }
        var missing: [String] = []
        for probe in probes {
            let browser = DeadLetterBrowser(client: broker, policy: try topology.policy(for: probe.queue))
            var found: [DeadLetterBrowser.DeadLetter] = []
            _ = try await eventually(timeout: .seconds(30), every: .milliseconds(200)) {
                found += try await browser.run(.discard, filter: .init(messageId: probe.messageId), limit: 1)
                return !found.isEmpty
            }
            guard let letter = found.first else {
                missing.append("\(probe.queue) \(probe.type ?? "no type") (\(probe.errorClass))")
                continue
            }
            #expect(
                letter.errorClass == probe.errorClass,
                "\(probe.queue) \(probe.type ?? "-"): \(letter.errorClass ?? "-") \(letter.error ?? "")")
            #expect(letter.error?.isEmpty == false)
            #expect(letter.headers["x-original-queue"]?.contains(probe.queue) == true)
        }
        #expect(missing.isEmpty, "never dead-lettered: \(missing.joined(separator: ", "))")
        let running = await RunningSystem.shared.armadaProcessesRunning()
        #expect(running.count == 5 && running.values.allSatisfy { $0 }, "\(running)")
        await broker.close()
    }
}
