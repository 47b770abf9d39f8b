import AMQP
import ArmadaTestSupport
import Foundation
import Messaging
import Postgres
import Testing

@Suite("Consumer runtime against real RabbitMQ and PostgreSQL")
struct ConsumerRuntimeTests {
    @Test("a redelivered message (same id) is a no-op: one effect, the handler runs once")
    func redeliveryIsNoOp() async throws {
        let fixture = try await RuntimeFixture { message, context, _ in try recordEffect(message, context) }
        let key = TestEnvironment.unique("redeliver")
        let id = UUID()
        _ = try await fixture.send(key, id: id)
        _ = try await fixture.send(key, id: id)
        _ = try await fixture.send(key, id: id)
        let done = await eventually {
            let depth = try? await fixture.depth(fixture.policy.name)
            let effects = try? await fixture.effects(key)
            return depth == 0 && effects == 1
        }
        #expect(done)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await fixture.effects(key) == 1)
        #expect(fixture.invocations.value[key] == 1)
        await fixture.stop()
    }

    @Test("a transient failure is retried through the delay tiers, then dead-lettered with its error")
    func transientRetriedThenDeadLettered() async throws {
        let fixture = try await RuntimeFixture(maxAttempts: 3, delayTiersSeconds: [1, 2]) { message, context, _ in
            try recordEffect(message, context)
            throw HandlerFailure.transient("UPSTREAM_DOWN", "simulated outage")
        }
        let key = TestEnvironment.unique("transient")
        let started = ContinuousClock.now
        let sent = try await fixture.send(key)
        var dead: [(properties: MessageProperties, body: [UInt8])] = []
        let deadLettered = await eventually(timeout: .seconds(20), every: .milliseconds(100)) {
            dead += (try? await fixture.drainDeadLetters()) ?? []
            return !dead.isEmpty
        }
        #expect(deadLettered)
        // First run, then one wait in each tier (1 s, 2 s): the tiers really delayed it.
        #expect(ContinuousClock.now - started >= .seconds(3))
        #expect(fixture.invocations.value[key] == 3)
        #expect(try await fixture.effects(key) == 0, "every failed run rolled back")
        let letter = try #require(dead.first)
        #expect(letter.properties.messageId == sent.id.uuidString)
        #expect(letter.properties.headers["x-error-class"] == .string("retries-exhausted"))
        #expect(letter.properties.headers["x-attempts"] == .int(3))
        #expect(letter.properties.headers["x-error"]?.stringValue?.contains("simulated outage") == true)
        #expect(letter.properties.headers["x-original-queue"] == .string(fixture.policy.name))
        #expect(letter.body == (try sent.encoded()))
        await fixture.stop()
    }

    @Test("a transient failure that clears on a retry takes effect once")
    func transientThenSuccess() async throws {
        let fixture = try await RuntimeFixture(maxAttempts: 5, delayTiersSeconds: [1]) { message, context, run in
            try recordEffect(message, context)
            if run < 3 { throw HandlerFailure.transient("BUSY", "try later") }
        }
        let key = TestEnvironment.unique("recovers")
        _ = try await fixture.send(key)
        let applied = await eventually(timeout: .seconds(15)) { (try? await fixture.effects(key)) == 1 }
        #expect(applied)
        #expect(fixture.invocations.value[key] == 3)
        #expect(try await fixture.drainDeadLetters().isEmpty)
        await fixture.stop()
    }

    @Test("an undecodable message is dead-lettered and the worker keeps consuming")
    func undecodableDeadLettered() async throws {
        let fixture = try await RuntimeFixture { message, context, _ in try recordEffect(message, context) }
        try await fixture.publishRaw(Array("this is not an envelope".utf8), messageId: "garbage-1")
        let unknownType =
            #"{"id":"\#(UUID().uuidString)","type":"test.nobody-handles-this","version":1,"occurredAt":"2026-11-25T00:00:00Z","data":{}}"#
        try await fixture.publishRaw(Array(unknownType.utf8), messageId: "unknown-type")
        let wrongBody =
            #"{"id":"\#(UUID().uuidString)","type":"test.runtime-command","version":1,"occurredAt":"2026-11-25T00:00:00Z","data":{"nope":1}}"#
        try await fixture.publishRaw(Array(wrongBody.utf8), messageId: "wrong-body")
        let key = TestEnvironment.unique("after-garbage")
        _ = try await fixture.send(key)

        let processed = await eventually { (try? await fixture.effects(key)) == 1 }
        #expect(processed, "the valid message after the bad ones was processed")
        var dead: [(properties: MessageProperties, body: [UInt8])] = []
        _ = await eventually {
            dead += (try? await fixture.drainDeadLetters()) ?? []
            return dead.count >= 3
        }
        let classes = Dictionary(
            uniqueKeysWithValues: dead.map { ($0.properties.messageId ?? "", $0.properties.headers["x-error-class"]?.stringValue ?? "") })
        #expect(classes["garbage-1"] == "undecodable")
        #expect(classes["unknown-type"] == "unknown-type")
        #expect(classes["wrong-body"] == "poison")
        #expect(dead.first { $0.properties.messageId == "garbage-1" }?.body == Array("this is not an envelope".utf8))
        await fixture.stop()
    }

    @Test("a permanent failure records its outcome and is acknowledged without retry")
    func permanentRecorded() async throws {
        let fixture = try await RuntimeFixture(delayTiersSeconds: [1]) { _, _, _ in
            throw HandlerFailure.permanent("RULE_BROKEN", "the order is not in a state that allows this")
        }
        let key = TestEnvironment.unique("permanent")
        let sent = try await fixture.send(key)
        let consumer = fixture.consumerName
        let recorded = await eventually {
            let row = try? await fixture.pool.withConnection { connection in
                try connection.query(
                    "SELECT outcome, error_code FROM inbox WHERE consumer = $1 AND message_id = $2", consumer, sent.id
                ).first.map { (try $0.decode("outcome", as: String.self), try $0.decode("error_code", as: String.self)) }
            }
            guard let found = row ?? nil else { return false }
            return found.0 == "failed" && found.1 == "RULE_BROKEN"
        }
        #expect(recorded)
        try await Task.sleep(for: .milliseconds(1500))  // longer than the delay tier: no retry comes
        #expect(fixture.invocations.value[key] == 1)
        #expect(try await fixture.drainDeadLetters().isEmpty)
        // Delivering it again is a no-op: the recorded outcome stands.
        _ = try await fixture.send(key, id: sent.id)
        try await Task.sleep(for: .milliseconds(500))
        #expect(fixture.invocations.value[key] == 1)
        await fixture.stop()
    }

    @Test("outbox rows of a rolled-back transaction are never published; committed ones are, once")
    func outboxOnlyAfterCommit() async throws {
        let fixture = try await RuntimeFixture { message, context, _ in
            try context.send(Envelope(id: MessageID.derive("follow-up", message.data.key), data: FollowUp(key: message.data.key)))
            if message.data.key.hasPrefix("fail") { throw HandlerFailure.permanent("NOPE", "rolled back after sending") }
        }
        let followQueue = TestEnvironment.unique("test.follow-up")
        try await fixture.probe.perform { connection in
            try connection.declareQueue(followQueue, type: .classic)
            try connection.bindQueue(followQueue, exchange: Exchange.commands, routingKey: FollowUp.messageType)
        }
        let good = TestEnvironment.unique("ok")
        let bad = TestEnvironment.unique("fail")
        _ = try await fixture.send(good)
        _ = try await fixture.send(bad)
        let goodID = MessageID.derive("follow-up", good)
        let badID = MessageID.derive("follow-up", bad)
        let handled = await eventually { fixture.invocations.value[good] == 1 && fixture.invocations.value[bad] == 1 }
        #expect(handled)
        await fixture.relay.publishPending()

        // Any relay sharing this database (another worker's) may publish the row; it is published once.
        let ids = "{\(goodID.uuidString),\(badID.uuidString)}"
        var rows: [(UUID, Bool)] = []
        let published = await eventually {
            rows =
                (try? await fixture.pool.withConnection { connection in
                    try connection.query(
                        "SELECT message_id, published_at IS NOT NULL AS sent FROM outbox WHERE message_id = ANY($1::uuid[])", ids
                    )
                    .map { (try $0.decode("message_id", as: UUID.self), try $0.decode("sent", as: Bool.self)) }
                }) ?? []
            return rows.first?.1 == true
        }
        #expect(published)
        #expect(rows.count == 1)
        #expect(rows.first?.0 == goodID)

        var received: [String] = []
        _ = await eventually {
            while let message = try? await fixture.probe.perform({ try $0.get(queue: followQueue) }) {
                received.append(message.properties.messageId ?? "")
            }
            return !received.isEmpty
        }
        try await Task.sleep(for: .milliseconds(300))
        while let message = try await fixture.probe.perform({ try $0.get(queue: followQueue) }) {
            received.append(message.properties.messageId ?? "")
        }
        #expect(received == [goodID.uuidString.lowercased()])
        _ = try? await fixture.probe.perform { try $0.deleteQueue(followQueue) }
        await fixture.stop()
    }
}
