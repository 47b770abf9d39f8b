import AMQP
import Foundation
import Logging
import Messaging
import WalletContracts

// armada-bench: the load generators of Deploy/bench/run.sh (not a test, not shipped).
//   armada-bench broker --count N --inflight K --size B      confirmed persistent publishes/s to a
//                                                            scratch quorum queue, then consume+ack/s
//   armada-bench callbacks --count N --prefix P --inflight K  publishes N PAID Tripay callbacks for
//                                                            references P1…PN onto armada.payments
//   armada-bench load --kind callbacks|contacts|orders --port P --rate R --seconds S --connections C --prefix X
//                     [--sent-file F]                        an open-loop HTTP load at R requests/s for
//                                                            S seconds: signed Tripay PAID callbacks
//                                                            (TRIPAY_PRIVATE_KEY) for references X1…, or
//                                                            PUT /me/contact by customers X1… (HS256,
//                                                            ARMADA_JWT_SECRET), or monthly orders of
//                                                            --plan by customers X1…; latencies from when each
//                                                            request was due; F gets "reference<TAB>sent"
// Prints one JSON object on stdout. AMQP_URL as everywhere.
var logger = Logger(label: "armada-bench")
logger.logLevel = .warning
let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String, _ fallback: Int) -> Int {
    guard let index = arguments.firstIndex(of: "--\(name)"), index + 1 < arguments.count, let value = Int(arguments[index + 1]) else {
        return fallback
    }
    return value
}
func text(_ name: String, _ fallback: String) -> String {
    guard let index = arguments.firstIndex(of: "--\(name)"), index + 1 < arguments.count else { return fallback }
    return arguments[index + 1]
}
func report(_ values: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: values, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

if arguments.first == "load" {
    let environment = ProcessInfo.processInfo.environment
    let rate = option("rate", 1000)
    let count = max(1, rate * option("seconds", 10))
    let prefix = text("prefix", "LOAD")
    let requests: [[UInt8]]
    switch text("kind", "callbacks") {
    case "callbacks": requests = LoadRequests.callbacks(count: count, prefix: prefix, privateKey: environment["TRIPAY_PRIVATE_KEY"] ?? "")
    case "contacts": requests = LoadRequests.contacts(count: count, prefix: prefix, jwtSecret: environment["ARMADA_JWT_SECRET"] ?? "")
    case "orders":
        requests = LoadRequests.orders(
            count: count, prefix: prefix, plan: text("plan", ""), jwtSecret: environment["ARMADA_JWT_SECRET"] ?? "")
    default:
        FileHandle.standardError.write(Data("--kind is callbacks, contacts or orders\n".utf8))
        exit(2)
    }
    let generator = LoadGenerator(
        host: "127.0.0.1", port: UInt16(option("port", 8080)), requests: requests, rate: Double(rate),
        connections: option("connections", 64), grace: 30)
    let result = try generator.run()
    if let file = arguments.firstIndex(of: "--sent-file").map({ arguments[$0 + 1] }) {
        let lines = result.sentAt.enumerated().map { "\(prefix)\($0.offset + 1)\t\($0.element)" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
    }
    func milliseconds(_ value: Double) -> Double { (value * 100).rounded() / 100 }
    report([
        "offered": rate, "requests": count, "completed": result.completed, "errors": result.errors,
        "achieved": Int(result.achieved.rounded()), "p50": milliseconds(result.percentile(50)), "p99": milliseconds(result.percentile(99)),
        "p999": milliseconds(result.percentile(99.9)), "max": milliseconds(result.latencies.last ?? .nan),
        "statuses": Dictionary(uniqueKeysWithValues: result.statuses.map { (String($0.key), $0.value) }),
    ])
    exit(0)
}

let url = ProcessInfo.processInfo.environment["AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:17672/%2f"
let client = BrokerClient(configuration: try AMQPConfiguration(url: url), logger: logger)
client.start()
try await client.waitUntilConnected()

/// Publishes `count` messages with at most `inflight` awaiting their confirms; returns seconds.
func publishAll(count: Int, inflight: Int, _ message: @escaping @Sendable (Int) throws -> (String, String, MessageProperties, [UInt8]))
    async throws -> Double
{
    let started = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<inflight {
            group.addTask {
                var index = worker
                while index < count {
                    let (exchange, key, properties, body) = try message(index)
                    try await client.publish(exchange: exchange, routingKey: key, properties: properties, body: body)
                    index += inflight
                }
            }
        }
        try await group.waitForAll()
    }
    let elapsed = ContinuousClock.now - started
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

switch arguments.first {
case "broker":
    let count = option("count", 50_000)
    let inflight = option("inflight", 500)
    let size = option("size", 256)
    let queue = "bench.limits.\(UUID().uuidString.prefix(8).lowercased())"
    try await client.perform { connection in
        _ = try connection.declareQueueIfCompatible(queue, type: .quorum, arguments: [:])
    }
    let body = [UInt8](repeating: 0x61, count: size)
    let publishSeconds = try await publishAll(count: count, inflight: inflight) { index in
        ("", queue, MessageProperties.armada(messageId: UUID(), type: "bench", correlationId: nil), body)
    }
    let started = ContinuousClock.now
    var consumed = 0
    for await delivery in client.consume(queue: queue, prefetch: 100) {
        client.ack(delivery)
        consumed += 1
        if consumed == count { break }
    }
    await client.cancelConsumers()
    let elapsed = ContinuousClock.now - started
    let consumeSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    try await client.perform { try $0.deleteQueue(queue) }
    report([
        "messages": count, "inflight": inflight, "bytes": size, "publishPerSecond": Int(Double(count) / publishSeconds),
        "consumePerSecond": Int(Double(count) / consumeSeconds),
    ])
case "callbacks":
    let count = option("count", 10_000)
    let inflight = option("inflight", 200)
    let prefix = text("prefix", "BENCH")
    let receivedAt = Date()
    let seconds = try await publishAll(count: count, inflight: inflight) { index in
        let reference = "\(prefix)\(index + 1)"
        let raw =
            #"{"reference":"\#(reference)","merchant_ref":"DEP-X","payment_method":"BRI Virtual Account","payment_method_code":"BRIVA","total_amount":154250,"fee_merchant":0,"fee_customer":4250,"total_fee":4250,"amount_received":150000,"is_closed_payment":1,"status":"PAID","paid_at":\#(Int(receivedAt.timeIntervalSince1970)),"note":null}"#
        let id = TripayCallbackReceived.messageID(reference: reference, status: "PAID")
        let envelope = Envelope(
            id: id, data: TripayCallbackReceived(rawBody: raw, receivedAt: receivedAt), occurredAt: receivedAt, correlationId: reference)
        return (
            Exchange.commands, TripayCallbackReceived.messageType,
            MessageProperties.armada(messageId: id, type: TripayCallbackReceived.messageType, correlationId: reference),
            try envelope.encoded()
        )
    }
    report(["messages": count, "inflight": inflight, "publishPerSecond": Int(Double(count) / seconds)])
default:
    FileHandle.standardError.write(Data("usage: armada-bench broker|callbacks [--count N] [--inflight K] [--size B] [--prefix P]\n".utf8))
    exit(2)
}
await client.close()
