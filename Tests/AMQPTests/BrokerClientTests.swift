import AMQP
import ArmadaTestSupport
import Foundation
import Logging
import Testing

/// A client on the test broker that declares `queues` (classic, auto-named by the test) on connect.
func makeClient(_ name: String, queues: [String] = [], heartbeat: Int = 30, url: String = TestEnvironment.amqpURL) throws -> BrokerClient {
    var configuration = try AMQPConfiguration(url: url)
    configuration.heartbeat = heartbeat
    configuration.connectionName = name
    configuration.rpcTimeout = 5
    var logger = Logger(label: "test.\(name)")
    logger.logLevel = ProcessInfo.processInfo.environment["ARMADA_TEST_LOG"] == "debug" ? .debug : .warning
    let client = BrokerClient(configuration: configuration, logger: logger) { connection in
        for queue in queues { try connection.declareQueue(queue, type: .quorum) }
    }
    client.start()
    return client
}

/// Deletes the test's queues once it is done.
func deleteQueues(_ queues: [String]) async {
    guard let client = try? makeClient("cleanup") else { return }
    try? await client.waitUntilConnected(timeout: .seconds(10))
    for queue in queues { _ = try? await client.perform { try $0.deleteQueue(queue) } }
    await client.close()
}

@Suite("Broker client against a real RabbitMQ")
struct BrokerClientTests {
    @Test("a cluster's AMQP_URL list: parsed node by node; a client whose first node is down connects to the next and works")
    func nodeList() async throws {
        let live = try AMQPConfiguration(url: TestEnvironment.amqpURL)
        let dead = freePort()
        let list =
            "amqp://\(live.user):\(live.password)@127.0.0.1:\(dead)/\(live.virtualHost == "/" ? "%2f" : live.virtualHost)?heartbeat=7,"
            + "amqp://\(live.user):\(live.password)@\(live.host):\(live.port)/\(live.virtualHost == "/" ? "%2f" : live.virtualHost)?heartbeat=7"
        let parsed = try AMQPConfiguration(url: list)
        #expect(parsed.endpoints.map(\.port) == [dead, live.port] && parsed.heartbeat == 7 && parsed.virtualHost == live.virtualHost)
        #expect(try AMQPConfiguration(url: TestEnvironment.amqpURL).endpoints.count == 1)
        #expect(throws: AMQPError.self) {
            try AMQPConfiguration(url: "amqp://a:b@127.0.0.1:1/x,amqp://a:b@127.0.0.1:2/y")
        }
        let queue = TestEnvironment.unique("test.nodes")
        let client = try makeClient("nodes", queues: [queue], url: list)
        try await client.waitUntilConnected(timeout: .seconds(20))
        try await client.publish(exchange: "", routingKey: queue, properties: MessageProperties(messageId: "1"), body: [1])
        #expect(try await client.queueStatus(queue).messages == 1)
        await client.close()
        await deleteQueues([queue])
    }

    @Test("a confirmed publish is consumed with its properties and acked")
    func confirmedRoundTrip() async throws {
        let queue = TestEnvironment.unique("test.roundtrip")
        let publisher = try makeClient("pub", queues: [queue])
        let consumer = try makeClient("con", queues: [queue])
        try await publisher.waitUntilConnected()
        try await consumer.waitUntilConnected()

        let properties = MessageProperties(
            messageId: "m-1", correlationId: "c-1", type: "test.ping",
            headers: ["x-attempt": .int(3), "x-note": .string("héllo 'quoted' ✓")])
        try await publisher.publish(exchange: "", routingKey: queue, properties: properties, body: Array("payload".utf8))

        var iterator = consumer.consume(queue: queue, prefetch: 10).makeAsyncIterator()
        let delivery = try #require(await iterator.next())
        #expect(String(decoding: delivery.body, as: UTF8.self) == "payload")
        #expect(delivery.properties.messageId == "m-1")
        #expect(delivery.properties.correlationId == "c-1")
        #expect(delivery.properties.type == "test.ping")
        #expect(delivery.properties.persistent)
        #expect(delivery.properties.headers["x-attempt"] == .int(3))
        #expect(delivery.properties.headers["x-note"] == .string("héllo 'quoted' ✓"))
        #expect(!delivery.redelivered)
        consumer.ack(delivery)

        // Acked: nothing is left and nothing comes back after the consumer goes away.
        await consumer.close()
        let drained = await eventually { (try? await publisher.queueStatus(queue))?.messages == 0 }
        #expect(drained)
        await publisher.close()
        await deleteQueues([queue])
    }

    @Test("10,000 messages published with confirms are each consumed exactly once")
    func tenThousandMessages() async throws {
        let queue = TestEnvironment.unique("test.bulk")
        let count = 10_000
        let publisher = try makeClient("bulk-pub", queues: [queue])
        let consumer = try makeClient("bulk-con", queues: [queue])
        try await publisher.waitUntilConnected()
        try await consumer.waitUntilConnected()

        // Many publishes in flight at once; each returns only after its own confirm.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<50 {
                group.addTask {
                    for index in stride(from: worker, to: count, by: 50) {
                        try await publisher.publish(
                            exchange: "", routingKey: queue, properties: MessageProperties(messageId: "\(index)"),
                            body: Array("\(index)".utf8))
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await publisher.queueStatus(queue).messages == UInt32(count))

        var seen = Set<Int>()
        var duplicates = 0
        for await delivery in consumer.consume(queue: queue, prefetch: 200) {
            let index = Int(String(decoding: delivery.body, as: UTF8.self))!
            if !seen.insert(index).inserted { duplicates += 1 }
            consumer.ack(delivery)
            if seen.count == count { break }
        }
        #expect(seen.count == count)
        #expect(duplicates == 0)
        await consumer.close()
        let empty = await eventually { (try? await publisher.queueStatus(queue))?.messages == 0 }
        #expect(empty)
        await publisher.close()
        await deleteQueues([queue])
    }

    @Test("a mandatory message that no queue takes throws unroutable")
    func unroutableMandatory() async throws {
        let publisher = try makeClient("unroutable")
        try await publisher.waitUntilConnected()
        await #expect {
            try await publisher.publish(
                exchange: "", routingKey: TestEnvironment.unique("no-such-queue"),
                properties: MessageProperties(messageId: "lost"), body: [1])
        } throws: { ($0 as? AMQPError)?.kind == .unroutable }
        // The connection survives a return.
        #expect(publisher.isConnected)
        await publisher.close()
    }

    @Test("passive declare reports depth and consumers; an unknown queue is notFound")
    func queueStatus() async throws {
        let queue = TestEnvironment.unique("test.status")
        let client = try makeClient("status", queues: [queue])
        let consumer = try makeClient("status-con", queues: [queue])
        try await client.waitUntilConnected()
        try await consumer.waitUntilConnected()
        for index in 0..<3 {
            try await client.publish(exchange: "", routingKey: queue, properties: MessageProperties(messageId: "\(index)"), body: [])
        }
        #expect(try await client.queueStatus(queue) == QueueStatus(name: queue, messages: 3, consumers: 0))
        // The registration lasts as long as its stream is kept (a dropped stream cancels it).
        let subscription = consumer.subscribe(queue: queue, prefetch: 1)
        let counted = await eventually { (try? await client.queueStatus(queue))?.consumers == 1 }
        #expect(counted)
        await #expect {
            _ = try await client.queueStatus(TestEnvironment.unique("absent"))
        } throws: { ($0 as? AMQPError)?.kind == .notFound }
        // A 404 on the scratch channel leaves the connection usable.
        #expect(try await client.queueStatus(queue).consumers == 1)
        // A quorum queue counts a cancelled consumer until its unacked delivery is settled.
        var iterator = subscription.deliveries.makeAsyncIterator()
        let first = await iterator.next()
        subscription.stop()
        if let first { consumer.ack(first) }
        let cancelled = await eventually { (try? await client.queueStatus(queue))?.consumers == 0 }
        #expect(cancelled, "stopping the subscription cancels the consumer at the broker")
        await consumer.close()
        await client.close()
        await deleteQueues([queue])
    }

    @Test("a nacked message is redelivered and flagged redelivered")
    func nackRequeues() async throws {
        let queue = TestEnvironment.unique("test.nack")
        let client = try makeClient("nack", queues: [queue])
        try await client.waitUntilConnected()
        try await client.publish(exchange: "", routingKey: queue, properties: MessageProperties(messageId: "n"), body: [7])
        var iterator = client.consume(queue: queue, prefetch: 1).makeAsyncIterator()
        let first = try #require(await iterator.next())
        client.nack(first, requeue: true)
        let second = try #require(await iterator.next())
        #expect(second.redelivered)
        #expect(second.body == [7])
        client.ack(second)
        await client.close()
        await deleteQueues([queue])
    }

    @Test("with no broker a publish fails at once with notConnected")
    func noBrokerFailsFast() async throws {
        let client = try makeClient("nobroker", url: "amqp://guest:guest@127.0.0.1:1/%2f")
        let started = ContinuousClock.now
        await #expect {
            try await client.publish(exchange: "", routingKey: "x", properties: MessageProperties(), body: [])
        } throws: { ($0 as? AMQPError)?.kind == .notConnected }
        #expect(ContinuousClock.now - started < .seconds(2))
        await client.close()
    }

    @Test("after close every request returns at once: publish and perform throw closed, the rest return", .timeLimit(.minutes(1)))
    func requestsAfterCloseReturn() async throws {
        let client = try makeClient("closed")
        try await client.waitUntilConnected()
        await client.close()
        await #expect {
            try await client.publish(exchange: "", routingKey: "x", properties: MessageProperties(), body: [])
        } throws: { ($0 as? AMQPError)?.kind == .closed }
        await #expect(throws: AMQPError.self) { try await client.perform { _ in 1 } }
        await client.cancelConsumers()
        await client.close()
        var ended = true
        for await _ in client.consume(queue: "never-declared", prefetch: 1) { ended = false }
        #expect(ended, "a consume on a closed client ends at once")
    }

    @Test("a task waiting on the I/O thread is released when it is cancelled", .timeLimit(.minutes(1)))
    func waitingCallerIsCancellable() async throws {
        let client = try makeClient("cancellable")
        try await client.waitUntilConnected()
        let waiting = Task { try await client.perform { _ in Thread.sleep(forTimeInterval: 3) } }
        try await Task.sleep(for: .milliseconds(200))
        let started = ContinuousClock.now
        waiting.cancel()
        let result = await waiting.result
        #expect(ContinuousClock.now - started < .seconds(2), "the caller did not wait for the I/O thread")
        #expect(throws: CancellationError.self) { try result.get() }
        await client.close()
    }

    @Test("stopping a subscription ends its stream at once, even with no broker to tell", .timeLimit(.minutes(1)))
    func subscriptionStopsWithoutBroker() async throws {
        let client = try makeClient("stop-nobroker", url: "amqp://guest:guest@127.0.0.1:1/%2f")
        let subscription = client.subscribe(queue: "q", prefetch: 1)
        let iterating = Task {
            var count = 0
            for await _ in subscription.deliveries { count += 1 }
            return count
        }
        subscription.stop()
        #expect(await iterating.value == 0)
        await client.close()
    }

    @Test(
        "a consumer the broker cancels (its queue deleted) subscribes again once the queue is back; the stream goes on",
        .timeLimit(.minutes(1)))
    func resubscribesAfterBrokerCancel() async throws {
        let queue = TestEnvironment.unique("test.cancelled")
        let admin = try makeClient("cancelled-admin")
        try await admin.waitUntilConnected()
        try await admin.perform { try $0.declareQueue(queue, type: .classic) }
        let client = try makeClient("cancelled")
        try await client.waitUntilConnected()
        try await admin.waitUntilConnected()
        let deliveries = client.consume(queue: queue, prefetch: 10)
        var iterator = deliveries.makeAsyncIterator()
        try await admin.publish(exchange: "", routingKey: queue, properties: MessageProperties(messageId: "before"), body: [1])
        let before = await iterator.next()
        #expect(before?.properties.messageId == "before")
        if let before { client.ack(before) }
        // Deleted under the consumer (the broker sends basic.cancel), then declared again.
        try await admin.perform { try $0.deleteQueue(queue) }
        try await admin.perform { try $0.declareQueue(queue, type: .classic) }
        try await admin.publish(exchange: "", routingKey: queue, properties: MessageProperties(messageId: "after"), body: [2])
        let after = await iterator.next()
        #expect(after?.properties.messageId == "after", "the same stream delivers again")
        if let after { client.ack(after) }
        await client.close()
        await admin.close()
        await deleteQueues([queue])
    }

    @Test("AMQP_URL parsing: vhost, TLS scheme, defaults, heartbeat")
    func urlParsing() throws {
        let plain = try AMQPConfiguration(url: "amqp://u:p%40ss@broker.local:5673/%2f?heartbeat=7")
        #expect(plain.host == "broker.local")
        #expect(plain.port == 5673)
        #expect(plain.user == "u")
        #expect(plain.password == "p@ss")
        #expect(plain.virtualHost == "/")
        #expect(plain.heartbeat == 7)
        #expect(!plain.useTLS)
        let tls = try AMQPConfiguration(url: "amqps://h/armada")
        #expect(tls.useTLS)
        #expect(tls.port == 5671)
        #expect(tls.virtualHost == "armada")
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "http://h/") }
    }
}
