import AMQP
import ArmadaTestSupport
import Curl
import Foundation
import Messaging
import Postgres
import Retriability
import Testing

@Suite("Messaging rules (pure)")
struct MessagingRulesTests {
    @Test("message ids are UUIDv5: stable for the same parts, different for others")
    func messageIDs() {
        let a = MessageID.derive("tripay-callback", "T0001", "PAID")
        #expect(a == MessageID.derive("tripay-callback", "T0001", "PAID"))
        #expect(a != MessageID.derive("tripay-callback", "T0001", "EXPIRED"))
        // Parts are separated, so ("ab", "c") and ("a", "bc") differ.
        #expect(MessageID.derive("ab", "c") != MessageID.derive("a", "bc"))
        let text = a.uuidString.lowercased()
        #expect(Array(text)[14] == "5", "version 5")
        #expect("89ab".contains(Array(text)[19]), "RFC 4122 variant")
    }

    @Test("failure classification table: errors say whether a retry helps; undecodable is poison")
    func classification() {
        #expect(classify(Outage(description: "x")) == .transient)
        #expect(classify(UndecodableMessage(reason: "x")) == .poison)
        #expect(classify(PostgresError(kind: .server, sqlState: "40001", message: "")) == .transient)
        #expect(classify(PostgresError(kind: .server, sqlState: "40P01", message: "")) == .transient)
        #expect(classify(PostgresError(kind: .connection, message: "")) == .transient)
        #expect(classify(PostgresError(kind: .server, sqlState: "57P01", message: "")) == .transient)
        #expect(classify(PostgresError(kind: .server, sqlState: "55P03", message: "lock timeout")) == .transient)
        #expect(classify(PostgresError(kind: .server, sqlState: "25006", message: "read-only after failover")) == .transient)
        #expect(classify(PostgresError(kind: .server, sqlState: "57P01", message: "admin shutdown")) == .transient)
        #expect(classify(PostgresError(kind: .server, sqlState: "23514", message: "")) == .poison)
        #expect(classify(PostgresError(kind: .server, sqlState: "25P02", message: "aborted transaction")) == .poison)
        #expect(classify(RetryLater("provider down")) == .transient)
        #expect(classify(AMQPError(.connectionLost, "")) == .transient)
        #expect(classify(AMQPError(.unroutable, "")) == .poison)
        #expect(classify(CurlError(code: 28, message: "timeout")) == .transient)
        #expect(classify(CurlError(code: 60, message: "certificate")) == .poison)
        struct Unknown: Error {}
        #expect(classify(Unknown()) == .transient)
    }

    @Test("'again' waits in the longest tier not longer than asked (it looks again early, never late), or the shortest tier")
    func againTier() {
        let policy = QueuePolicy(name: "q", maxAttempts: 5, delayTiersSeconds: [30, 5, 300], deliveryLimit: 20)
        #expect(policy.delayTier(forAbout: .seconds(1))?.seconds == 5)
        #expect(policy.delayTier(forAbout: .seconds(5))?.seconds == 5)
        #expect(policy.delayTier(forAbout: .seconds(8))?.seconds == 5)
        #expect(policy.delayTier(forAbout: .milliseconds(29_999))?.seconds == 5)
        #expect(policy.delayTier(forAbout: .seconds(30))?.seconds == 30)
        #expect(policy.delayTier(forAbout: .seconds(75))?.seconds == 30)
        #expect(policy.delayTier(forAbout: .seconds(300))?.seconds == 300)
        #expect(policy.delayTier(forAbout: .seconds(3600))?.queue == "q.delay.300s")
        #expect(QueuePolicy(name: "q", maxAttempts: 1, delayTiersSeconds: [], deliveryLimit: 1).delayTier(forAbout: .seconds(1)) == nil)
    }

    @Test("topic patterns: * is one word, # is zero or more")
    func topicPatterns() {
        #expect(TopicPattern.matches("payments.#", "payments.create-deposit"))
        #expect(TopicPattern.matches("payments.#", "payments"))
        #expect(TopicPattern.matches("event.#", "event.deposit.paid"))
        #expect(!TopicPattern.matches("event.#", "payments.tripay-callback"))
        #expect(TopicPattern.matches("event.*.paid", "event.deposit.paid"))
        #expect(!TopicPattern.matches("event.*", "event.deposit.paid"))
        #expect(TopicPattern.matches("exact.key", "exact.key"))
    }

    @Test("settings: a malformed or out-of-range value is an error naming the variable")
    func settingsErrors() throws {
        let reader = EnvironmentReader(["A": "0", "B": "12x", "C": "7", "L": "loud"])
        #expect(throws: SettingsError.self) { try reader.int("A", default: 8, in: 1...100) }
        do {
            _ = try reader.int("B", default: 8, in: 1...100)
            Issue.record("12x was accepted")
        } catch let error as SettingsError {
            #expect(error.description.contains("B"))
        }
        #expect(try reader.int("C", default: 8, in: 1...100) == 7)
        #expect(try reader.int("UNSET", default: 8, in: 1...100) == 8)
        #expect(throws: SettingsError.self) { try reader.required("UNSET") }
        enum Loudness: String, CaseIterable { case quiet, normal }
        #expect(throws: SettingsError.self) { try reader.choice("L", default: Loudness.quiet) }
    }

    @Test("retry decision: the n-th failure waits in the n-th tier, the last tier repeats, then dead-letter")
    func retryDecision() {
        let policy = QueuePolicy(name: "q", maxAttempts: 5, delayTiersSeconds: [5, 30, 300], deliveryLimit: 20)
        #expect(policy.afterTransientFailure(failedAttempts: 1) == .retry(delayQueue: "q.delay.5s", delaySeconds: 5))
        #expect(policy.afterTransientFailure(failedAttempts: 2) == .retry(delayQueue: "q.delay.30s", delaySeconds: 30))
        #expect(policy.afterTransientFailure(failedAttempts: 3) == .retry(delayQueue: "q.delay.300s", delaySeconds: 300))
        #expect(policy.afterTransientFailure(failedAttempts: 4) == .retry(delayQueue: "q.delay.300s", delaySeconds: 300))
        #expect(policy.afterTransientFailure(failedAttempts: 5) == .deadLetter)
        #expect(
            QueuePolicy(name: "q", maxAttempts: 1, delayTiersSeconds: [5], deliveryLimit: 20).afterTransientFailure(failedAttempts: 1)
                == .deadLetter)
    }

    @Test("the bundled topology declares the six work queues with delay tiers and dead-letter queues")
    func bundledTopology() throws {
        let topology = try Topology.bundled()
        #expect(Set(topology.exchanges.map(\.name)) == [Exchange.commands, Exchange.events])
        #expect(
            topology.queues.map(\.name) == [
                "armada.payments", "armada.provisioning", "armada.lifecycle", "armada.notifications", "armada.email",
                "armada.telegram",
            ])
        #expect(try topology.policy(for: "armada.telegram").delayTiersSeconds == [1, 5, 30, 300, 900])
        #expect(topology.retiredBindings?.map(\.queue) == ["armada.email", "armada.telegram"])
        let payments = try topology.policy(for: "armada.payments")
        #expect(payments.deadLetterQueue == "armada.payments.dead")
        #expect(payments.allQueues.contains("armada.payments.delay.5s"))
        #expect(payments.maxAttempts == 6)
        #expect(throws: TopologyError.self) { try topology.policy(for: "armada.nope") }
    }

    @Test("applying the topology twice is idempotent on a real broker")
    func topologyIdempotent() async throws {
        let queue = TestEnvironment.unique("test.topology")
        let topology = try Topology.bundled().with(queues: [
            .init(name: queue, bindings: [.init(exchange: Exchange.commands, routingKey: "test.topology.#")])
        ])
        let client = BrokerClient(configuration: try AMQPConfiguration(url: TestEnvironment.amqpURL), logger: .init(label: "t"))
        client.start()
        try await client.waitUntilConnected()
        try await client.perform { try topology.apply(on: $0) }
        try await client.perform { try topology.apply(on: $0) }
        for name in try topology.policy(for: queue).allQueues {
            #expect(try await client.queueStatus(name).messages == 0)
        }
        // Routed through the exchange binding into the work queue.
        try await client.publish(exchange: Exchange.commands, routingKey: "test.topology.x", properties: .init(messageId: "t"), body: [])
        #expect(try await client.queueStatus(queue).messages == 1)
        for name in try topology.policy(for: queue).allQueues { try await client.perform { try $0.deleteQueue(name) } }
        await client.close()
    }
}
