import AMQP
import ArmadaTestSupport
import Foundation
import Glibc
import Testing

/// Tests that stop, restart or freeze the shared broker. They run on their own, after the other
/// suites (`Deploy/local/test.sh` runs them in a second `swift test` with `--filter BrokerFault`).
@Suite(
    "Broker faults", .serialized, .timeLimit(.minutes(3)),
    .enabled(if: ProcessInfo.processInfo.environment["ARMADA_FAULT_TESTS"] == "1"))
struct BrokerFaultTests {
    @Test("a consumer resumes after the broker restarts mid-stream and no message is lost")
    func consumerSurvivesRestart() async throws {
        let queue = TestEnvironment.unique("test.restart")
        let count = 2_000
        let publisher = try makeClient("restart-pub", queues: [queue], heartbeat: 2)
        let consumer = try makeClient("restart-con", queues: [queue], heartbeat: 2)
        try await publisher.waitUntilConnected()
        try await consumer.waitUntilConnected()
        for index in 0..<count {
            try await publisher.publish(
                exchange: "", routingKey: queue, properties: MessageProperties(messageId: "\(index)"), body: Array("\(index)".utf8))
        }

        var seen = Set<Int>()
        var restarted = false
        for await delivery in consumer.consume(queue: queue, prefetch: 50) {
            seen.insert(Int(String(decoding: delivery.body, as: UTF8.self))!)
            // Slow enough that the restart happens with messages still queued and some unacked.
            try await Task.sleep(for: .microseconds(200))
            consumer.ack(delivery)
            if !restarted && seen.count == count / 4 {
                restarted = true
                try await TestEnvironment.stack("rabbit-stop")
                try await TestEnvironment.stack("rabbit-start")
            }
            if seen.count == count { break }
        }
        #expect(restarted)
        #expect(seen.count == count, "every published message arrives at least once")
        try await publisher.waitUntilConnected()
        let drained = await eventually(timeout: .seconds(30)) { (try? await publisher.queueStatus(queue))?.messages == 0 }
        #expect(drained)
        await consumer.close()
        await publisher.close()
        await deleteQueues([queue])
    }

    @Test("a frozen broker is detected within twice the heartbeat and nothing hangs")
    func frozenBrokerDetected() async throws {
        let heartbeat = 2
        let queue = TestEnvironment.unique("test.frozen")
        let publisher = try makeClient("frozen-pub", queues: [queue], heartbeat: heartbeat)
        try await publisher.waitUntilConnected()
        try await publisher.publish(exchange: "", routingKey: queue, properties: MessageProperties(messageId: "before"), body: [])

        let pid = try TestEnvironment.brokerPID()
        #expect(kill(pid, SIGSTOP) == 0)
        defer { kill(pid, SIGCONT) }
        let frozenAt = ContinuousClock.now

        // A publish to the frozen broker must fail rather than hang.
        var failure: AMQPError?
        do {
            try await publisher.publish(exchange: "", routingKey: queue, properties: MessageProperties(messageId: "during"), body: [])
        } catch let error as AMQPError {
            failure = error
        }
        let detected = await eventually(timeout: .seconds(20), every: .milliseconds(100)) { !publisher.isConnected }
        let elapsed = ContinuousClock.now - frozenAt
        #expect(failure != nil, "the publish during the freeze throws")
        #expect(detected)
        // Twice the heartbeat, plus the watchdog's and the loop's polling slack.
        #expect(elapsed < .seconds(2 * heartbeat + 2), "detected after \(elapsed)")

        kill(pid, SIGCONT)
        try await publisher.waitUntilConnected(timeout: .seconds(60))
        try await publisher.publish(exchange: "", routingKey: queue, properties: MessageProperties(messageId: "after"), body: [])
        await publisher.close()
        await deleteQueues([queue])
    }
}
