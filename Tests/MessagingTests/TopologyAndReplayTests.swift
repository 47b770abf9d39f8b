import AMQP
import ArmadaTestSupport
import Foundation
import Logging
import Messaging
import Testing

/// A broker client that declares nothing on connect (what `armadactl` migrates with).
func plainClient(_ name: String) async throws -> BrokerClient {
    var configuration = try AMQPConfiguration(url: TestEnvironment.amqpURL)
    configuration.connectionName = name
    var logger = Logger(label: "test.\(name)")
    logger.logLevel = .critical
    let client = BrokerClient(configuration: configuration, logger: logger)
    client.start()
    try await client.waitUntilConnected()
    return client
}

@Suite("Topology migration and dead-letter replay against a real RabbitMQ", .timeLimit(.minutes(2)))
struct TopologyAndReplayTests {
    @Test("a queue whose arguments changed is refused while it holds messages, recreated with --force, keeps them and its bindings")
    func migrationKeepsMessages() async throws {
        let name = TestEnvironment.unique("test.migrate")
        let routingKey = "test.migrate.\(name)"
        let topology = try Topology.bundled().with(queues: [
            .init(name: name, bindings: [.init(exchange: Exchange.commands, routingKey: routingKey)])
        ])
        let client = try await plainClient("migrate")
        // The shape an older Armada declared: a quorum work queue without the at-least-once
        // dead-letter strategy, holding two messages.
        try await client.perform { connection in
            try connection.declareQueue(name, type: .quorum, arguments: ["x-delivery-limit": .int(20)])
            try connection.bindQueue(name, exchange: Exchange.commands, routingKey: routingKey)
        }
        for id in ["m1", "m2"] {
            try await client.publish(exchange: "", routingKey: name, properties: MessageProperties(messageId: id), body: Array(id.utf8))
        }
        // A process declaring the topology meanwhile keeps working with the old queue.
        #expect(try await client.perform { try topology.apply(on: $0) } == [name])

        let refused = try await TopologyMigration(topology: topology).run(on: client, force: false)
        #expect(refused.refused.map(\.queue) == [name])
        #expect(refused.recreated.isEmpty)
        #expect(try await client.queueStatus(name).messages == 2, "nothing touched without --force")

        let forced = try await TopologyMigration(topology: topology).run(on: client, force: true)
        #expect(forced.recreated.map(\.queue) == [name])
        #expect(forced.recreated.first?.movedMessages == 2)
        #expect(try await client.queueStatus(name).messages == 2, "the messages came back")
        let policy = try topology.policy(for: name)
        let arguments = try #require(try topology.queueShapes().first { $0.name == name }?.arguments)
        #expect(try await client.perform { try $0.declareQueueIfCompatible(name, type: .quorum, arguments: arguments) })

        let again = try await TopologyMigration(topology: topology).run(on: client, force: false)
        #expect(again.recreated.isEmpty && again.refused.isEmpty, "a second run finds nothing to do")
        try await client.publish(
            exchange: Exchange.commands, routingKey: routingKey, properties: MessageProperties(messageId: "m3"), body: Array("m3".utf8))
        #expect(try await client.queueStatus(name).messages == 3, "the exchange routes to the rebuilt queue again")
        #expect(try await client.perform { try topology.apply(on: $0) }.isEmpty)
        for queue in policy.allQueues + ["\(name).migrating"] { _ = try? await client.perform { try $0.deleteQueue(queue) } }
        await client.close()
    }

    @Test("messages an interrupted migration left in a holding queue are moved back by the next run")
    func leftoverHoldingQueueDrained() async throws {
        let name = TestEnvironment.unique("test.migrate-leftover")
        let topology = try Topology.bundled().with(queues: [.init(name: name, bindings: [])])
        let client = try await plainClient("migrate-leftover")
        try await client.perform { try topology.apply(on: $0) }
        try await client.perform { try $0.declareQueue("\(name).migrating", type: .quorum) }
        try await client.publish(
            exchange: "", routingKey: "\(name).migrating", properties: MessageProperties(messageId: "stranded"), body: [1])
        let report = try await TopologyMigration(topology: topology).run(on: client, force: false)
        #expect(report.recreated.isEmpty && report.refused.isEmpty)
        #expect(try await client.queueStatus(name).messages == 1)
        await #expect(throws: AMQPError.self) { try await client.queueStatus("\(name).migrating") }
        for queue in try topology.policy(for: name).allQueues { _ = try? await client.perform { try $0.deleteQueue(queue) } }
        await client.close()
    }

    @Test("an empty queue whose arguments changed is recreated without --force")
    func emptyQueueRecreated() async throws {
        let name = TestEnvironment.unique("test.migrate-empty")
        let topology = try Topology.bundled().with(queues: [.init(name: name, bindings: [])])
        let client = try await plainClient("migrate-empty")
        // A delay tier as it used to be: a classic queue.
        let tier = try topology.policy(for: name).delayQueue(seconds: topology.defaults.delayTiersSeconds[0])
        try await client.perform { try $0.declareQueue(tier, type: .classic, arguments: ["x-message-ttl": .int(5000)]) }
        let report = try await TopologyMigration(topology: topology).run(on: client, force: false)
        #expect(report.recreated.map(\.queue) == [tier])
        #expect(report.refused.isEmpty)
        for queue in try topology.policy(for: name).allQueues { _ = try? await client.perform { try $0.deleteQueue(queue) } }
        await client.close()
    }

    @Test("replay sends a broker-dead-lettered message (delivery limit) back to its own queue, not to others bound alike")
    func replayToOriginalQueue() async throws {
        let name = TestEnvironment.unique("test.replay")
        let routingKey = "test.replay.\(name)"
        let other = TestEnvironment.unique("test.replay-other")
        let topology = try Topology.bundled().with(queues: [
            .init(name: name, bindings: [.init(exchange: Exchange.commands, routingKey: routingKey)], deliveryLimit: 1),
            .init(name: other, bindings: [.init(exchange: Exchange.commands, routingKey: routingKey)]),
        ])
        let client = try await plainClient("replay")
        try await client.perform { try topology.apply(on: $0) }
        let policy = try topology.policy(for: name)
        try await client.publish(
            exchange: Exchange.commands, routingKey: routingKey, properties: MessageProperties(messageId: "poison"), body: Array("p".utf8))
        #expect(try await client.queueStatus(other).messages == 1)

        // Given back twice: past the delivery limit, the broker dead-letters it.
        for _ in 0..<2 {
            let message = try #require(try await client.perform { try $0.get(queue: name) })
            let tag = message.deliveryTag
            try await client.perform { try $0.nack(tag, requeue: true) }
        }
        let deadLettered = await eventually { (try? await client.queueStatus(policy.deadLetterQueue))?.messages == 1 }
        #expect(deadLettered)
        #expect(try await client.queueStatus(name).messages == 0)

        #expect(try await DeadLetters.replay(policy, on: client, limit: 10, at: Date()) == 1)
        #expect(try await client.queueStatus(name).messages == 1, "back in the queue it died in")
        #expect(try await client.queueStatus(policy.deadLetterQueue).messages == 0)
        #expect(try await client.queueStatus(other).messages == 1, "the other queue bound to the same key got no copy")
        let replayed = try #require(try await client.perform { try $0.get(queue: name) })
        #expect(replayed.properties.messageId == "poison")
        #expect(replayed.properties.headers["x-death"] == nil)
        #expect(replayed.properties.headers["x-replayed-at"] != nil)
        for queue in policy.allQueues + (try topology.policy(for: other).allQueues) {
            _ = try? await client.perform { try $0.deleteQueue(queue) }
        }
        await client.close()
    }
}
