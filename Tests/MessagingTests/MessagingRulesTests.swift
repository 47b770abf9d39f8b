import AMQP
import ArmadaQueues
import ArmadaTestSupport
import Curl
import Foundation
import Messaging
import Postgres
import Testing
import Tripay
import Wallet

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

    @Test("failure classification table")
    func classification() {
        #expect(classify(HandlerFailure.permanent("X", "y")) == .permanent(code: "X"))
        #expect(classify(HandlerFailure.transient("X", "y")) == .transient)
        #expect(classify(UndecodableMessage(reason: "x")) == .poison)
        #expect(classify(PostgresError(kind: .server, sqlState: "40001", message: "")) == .transient)
        #expect(classify(PostgresError(kind: .server, sqlState: "40P01", message: "")) == .transient)
        #expect(classify(PostgresError(kind: .connection, message: "")) == .transient)
        #expect(classify(PostgresError(kind: .server, sqlState: "57P01", message: "")) == .transient)
        #expect(classify(PostgresError(kind: .server, sqlState: "23514", message: "")) == .poison)
        #expect(classify(AMQPError(.connectionLost, "")) == .transient)
        #expect(classify(AMQPError(.unroutable, "")) == .poison)
        #expect(classify(CurlError(code: 28, message: "timeout")) == .transient)
        #expect(classify(CurlError(code: 60, message: "certificate")) == .poison)
        struct Unknown: Error {}
        #expect(classify(Unknown()) == .transient)
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

    @Test("the bundled topology declares the five work queues with delay tiers and dead-letter queues")
    func bundledTopology() throws {
        let topology = try Topology.bundled()
        #expect(Set(topology.exchanges.map(\.name)) == [Exchange.commands, Exchange.events])
        #expect(
            topology.queues.map(\.name) == [
                "armada.payments", "armada.provisioning", "armada.lifecycle", "armada.email", "armada.telegram",
            ])
        let payments = try topology.policy(for: "armada.payments")
        #expect(payments.deadLetterQueue == "armada.payments.dead")
        #expect(payments.allQueues.contains("armada.payments.delay.5s"))
        #expect(payments.maxAttempts == 6)
        #expect(throws: TopologyError.self) { try topology.policy(for: "armada.nope") }
    }

    @Test("every example in Queues/examples decodes as its catalogued type, and every catalogued type has one")
    func catalogExamples() throws {
        let decoders: [String: ([UInt8]) throws -> Void] = [
            TripayCallbackReceived.messageType: {
                _ = try MessageCoding.decoder().decode(Envelope<TripayCallbackReceived>.self, from: Data($0))
            },
            DepositPaid.messageType: { _ = try MessageCoding.decoder().decode(Envelope<DepositPaid>.self, from: Data($0)) },
            DepositExpired.messageType: { _ = try MessageCoding.decoder().decode(Envelope<DepositExpired>.self, from: Data($0)) },
            CreateDeposit.messageType: { _ = try MessageCoding.decoder().decode(Envelope<CreateDeposit>.self, from: Data($0)) },
            ClaimWelcomeBonus.messageType: { _ = try MessageCoding.decoder().decode(Envelope<ClaimWelcomeBonus>.self, from: Data($0)) },
            ManagePromo.messageType: { _ = try MessageCoding.decoder().decode(Envelope<ManagePromo>.self, from: Data($0)) },
            AdjustWallet.messageType: { _ = try MessageCoding.decoder().decode(Envelope<AdjustWallet>.self, from: Data($0)) },
            WelcomeBonusCredited.messageType: {
                _ = try MessageCoding.decoder().decode(Envelope<WelcomeBonusCredited>.self, from: Data($0))
            },
            CancelDeposit.messageType: { _ = try MessageCoding.decoder().decode(Envelope<CancelDeposit>.self, from: Data($0)) },
            UpdateContact.messageType: { _ = try MessageCoding.decoder().decode(Envelope<UpdateContact>.self, from: Data($0)) },
        ]
        var seen = Set<String>()
        for (file, bytes) in exampleMessages {
            let header = try MessageCoding.decoder().decode(EnvelopeHeader.self, from: Data(bytes))
            #expect(file == "\(header.type).json")
            let decode = try #require(decoders[header.type], "no catalogued type \(header.type)")
            try decode(bytes)
            seen.insert(header.type)
        }
        #expect(seen == Set(decoders.keys))
        // The example callback's raw body is a valid Tripay payload too.
        let callback = try MessageCoding.decoder().decode(
            Envelope<TripayCallbackReceived>.self, from: Data(exampleMessages.first { $0.file.hasPrefix("payments.") }!.bytes))
        #expect(try TripayCallback.decode(Array(callback.data.rawBody.utf8)).status == .paid)
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
