import AMQP
import ArmadaTestSupport
import Foundation
import Messaging
import Postgres
import Testing

/// What the group-commit test's handler sends: a type no test binds a queue to, so its rows
/// stay in the outbox for the test to read and never reach another test's queue.
struct BatchFollowUp: MessageBody {
    static let messageType = "test.batch-follow-up"
    static let exchange = Exchange.commands
    var key: String
}

@Suite("Consumer runtime against real RabbitMQ and PostgreSQL")
struct ConsumerRuntimeTests {
    @Test("a redelivered message (same id) is a no-op: one effect, the handler runs once")
    func redeliveryIsNoOp() async throws {
        let fixture = try await RuntimeFixture(concurrency: 1) { message, context, _ in
            try recordEffect(message, context)
            return .done
        }
        let key = TestEnvironment.unique("redeliver")
        let id = UUID()
        _ = try await fixture.send(key, id: id)
        _ = try await fixture.send(key, id: id)
        _ = try await fixture.send(key, id: id)
        try await fixture.sendSentinelAndWait()
        #expect(try await fixture.effects(key) == 1)
        #expect(fixture.invocations.value[key] == 1)
        await fixture.stop()
    }

    @Test("a transient failure is retried through the delay tiers, then dead-lettered with its error")
    func transientRetriedThenDeadLettered() async throws {
        let fixture = try await RuntimeFixture(maxAttempts: 3, delayTiersSeconds: [1, 2]) { message, context, _ in
            try recordEffect(message, context)
            throw Outage(description: "simulated outage")
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

    @Test("a redelivered message whose retry copy was published before its ack was lost is not copied again")
    func lostAckDoesNotDuplicateTheRetryCopy() async throws {
        let fixture = try await RuntimeFixture(maxAttempts: 3, delayTiersSeconds: [30], concurrency: 1, startConsuming: false) { _, _, _ in
            throw Outage(description: "still down")
        }
        let key = TestEnvironment.unique("lost-ack")
        let sent = try await fixture.send(key)
        // What an earlier run left when its ack was lost: the retry copy, published and recorded.
        try await fixture.redeliverWithRecordedCopy(sent, copy: "retry-1")
        try await fixture.sendSentinelAndWait()
        #expect(fixture.invocations.value[key] == 1)
        #expect(try await fixture.depth(fixture.policy.delayQueue(seconds: 30)) == 0, "no second copy in the delay tier")
        #expect(try await fixture.depth(fixture.policy.name) == 0, "the redelivered original was acked")

        await fixture.stop()
    }

    @Test("a replayed dead letter is a new life: a copy recorded in its first life does not stop its retry")
    func replayedLifeGetsItsOwnCopy() async throws {
        let fixture = try await RuntimeFixture(maxAttempts: 3, delayTiersSeconds: [30], concurrency: 1, startConsuming: false) { _, _, _ in
            throw Outage(description: "still down")
        }
        let key = TestEnvironment.unique("replayed")
        let sent = try await fixture.send(key, headers: ["x-replayed-at": .string("2026-11-25T20:00:00Z")])
        // The first life's retry copy, recorded before it was dead-lettered and replayed.
        try await fixture.redeliverWithRecordedCopy(sent, copy: "retry-1")
        try await fixture.sendSentinelAndWait()
        #expect(try await fixture.depth(fixture.policy.delayQueue(seconds: 30)) == 1, "the replayed life got its retry copy")
        await fixture.stop()
    }

    @Test("a transient failure that clears on a retry takes effect once")
    func transientThenSuccess() async throws {
        let fixture = try await RuntimeFixture(maxAttempts: 5, delayTiersSeconds: [1]) { message, context, run in
            try recordEffect(message, context)
            if run < 3 { throw Outage(description: "busy") }
            return .done
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
        let fixture = try await RuntimeFixture { message, context, _ in
            try recordEffect(message, context)
            return .done
        }
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

    @Test("a command whose message is dead-lettered is stalled (not final) with PROCESSING_FAILED")
    func deadLetteredCommandFailed() async throws {
        let fixture = try await RuntimeFixture(delayTiersSeconds: [1], concurrency: 1) { _, _, _ in
            throw UndecodableMessage(reason: "a bug the same bytes will hit again")
        }
        let key = TestEnvironment.unique("dead-command")
        let commandId = UUID()
        try await fixture.pool.withConnection { connection in
            _ = try Commands.recordPending(
                commandId, customerId: "runtime-tests", idempotencyKey: key, type: RuntimeCommand.messageType, requestHash: "h",
                on: connection)
        }
        _ = try await fixture.send(key, commandId: commandId)
        try await fixture.sendSentinelAndWait()
        #expect(try await fixture.drainDeadLetters().count == 1)
        let command = try await fixture.pool.withConnection { try Commands.find(commandId, customerId: "runtime-tests", on: $0) }
        #expect(command?.status == .stalled)
        #expect(command?.errorCode == "PROCESSING_FAILED")
        await fixture.stop()
    }

    @Test("a command's stall recorded late (the database was down at the dead-letter) is applied by any consumer once it answers")
    func commandFailureRecordedLate() async throws {
        let fixture = try await RuntimeFixture(concurrency: 1) { message, context, _ in
            try recordEffect(message, context)
            return .done
        }
        let commandId = UUID()
        let key = TestEnvironment.unique("late-failure")
        try await fixture.pool.withConnection { connection in
            _ = try Commands.recordPending(
                commandId, customerId: "runtime-tests", idempotencyKey: key, type: RuntimeCommand.messageType, requestHash: "h",
                on: connection)
        }
        let record = Envelope(
            id: MessageID.derive("command-failed", commandId.uuidString),
            data: CommandStalled(commandId: commandId, code: .processingFailed, message: "dead-lettered"), occurredAt: Date())
        try await fixture.publishRaw(try record.encoded(), messageId: record.id.uuidString)
        try await fixture.sendSentinelAndWait()
        let command = try await fixture.pool.withConnection { try Commands.find(commandId, customerId: "runtime-tests", on: $0) }
        #expect(command?.status == .stalled)
        #expect(command?.errorCode == "PROCESSING_FAILED")
        #expect(try await fixture.drainDeadLetters().isEmpty, "not an unknown type")
        await fixture.stop()
    }

    @Test("a rejection rolls the handler's writes back but for those it kept, is recorded with the inbox row, and is never retried")
    func rejectionRecorded() async throws {
        let fixture = try await RuntimeFixture(delayTiersSeconds: [1], concurrency: 1) { message, context, _ in
            try recordEffect(message, context)
            let kept = message.data.key + "-kept"
            let id = message.id
            context.keepEvenIfRejected { connection in
                try connection.execute("INSERT INTO runtime_effects (message_id, key) VALUES ($1, $2)", id, kept)
            }
            return .rejected(ErrorCode("RULE_BROKEN"), "the order is not in a state that allows this")
        }
        let key = TestEnvironment.unique("rejected")
        let commandId = UUID()
        try await fixture.pool.withConnection { connection in
            _ = try Commands.recordPending(
                commandId, customerId: "runtime-tests", idempotencyKey: key, type: RuntimeCommand.messageType, requestHash: "h",
                on: connection)
        }
        let sent = try await fixture.send(key, commandId: commandId)
        try await fixture.sendSentinelAndWait()
        // Handled before the sentinel, one at a time: a retry would be waiting in a delay tier now.
        #expect(fixture.invocations.value[key] == 1)
        for tier in fixture.policy.delayTiersSeconds { #expect(try await fixture.depth(fixture.policy.delayQueue(seconds: tier)) == 0) }
        #expect(try await fixture.drainDeadLetters().isEmpty)
        #expect(try await fixture.effects(key) == 0, "the rejected run's writes were rolled back")
        #expect(try await fixture.effects(key + "-kept") == 1, "the write it asked to keep stands")
        let consumer = fixture.consumerName
        let recorded = try await fixture.pool.withConnection { try Inbox.outcome(consumer: consumer, messageId: sent.id, on: $0) }
        #expect(recorded?.outcome == "failed")
        #expect(recorded?.errorCode == "RULE_BROKEN")
        let command = try await fixture.pool.withConnection { try Commands.find(commandId, customerId: "runtime-tests", on: $0) }
        #expect(command?.status == .failed)
        #expect(command?.errorCode == "RULE_BROKEN")
        // Delivering it again is a no-op: the recorded outcome stands.
        _ = try await fixture.send(key, id: sent.id)
        try await fixture.sendSentinelAndWait()
        #expect(fixture.invocations.value[key] == 1)
        await fixture.stop()
    }

    @Test("'again' runs the message later without spending a retry, then it takes effect once")
    func againWithoutSpendingRetries() async throws {
        // One attempt only: a single counted failure would dead-letter it.
        let fixture = try await RuntimeFixture(maxAttempts: 1, delayTiersSeconds: [1]) { message, context, run in
            if run < 3 {
                return .again(after: .seconds(1), until: context.time.runAt.addingTimeInterval(60), because: "booting")
            }
            try recordEffect(message, context)
            return .done
        }
        let key = TestEnvironment.unique("again")
        let started = ContinuousClock.now
        _ = try await fixture.send(key)
        let applied = await eventually(timeout: .seconds(20)) { (try? await fixture.effects(key)) == 1 }
        #expect(applied)
        #expect(ContinuousClock.now - started >= .seconds(2), "it waited in the delay tier twice")
        #expect(fixture.invocations.value[key] == 3)
        #expect(try await fixture.drainDeadLetters().isEmpty)
        await fixture.stop()
    }

    @Test("'again' past the handler's deadline is dead-lettered with its reason")
    func againPastDeadlineDeadLettered() async throws {
        let fixture = try await RuntimeFixture(delayTiersSeconds: [1]) { _, context, _ in
            .again(after: .seconds(1), until: context.now, because: "never ready")
        }
        let key = TestEnvironment.unique("deadline")
        _ = try await fixture.send(key)
        var dead: [(properties: MessageProperties, body: [UInt8])] = []
        let deadLettered = await eventually(timeout: .seconds(20), every: .milliseconds(100)) {
            dead += (try? await fixture.drainDeadLetters()) ?? []
            return !dead.isEmpty
        }
        #expect(deadLettered)
        #expect(dead.first?.properties.headers["x-error-class"] == .string("deadline-passed"))
        #expect(dead.first?.properties.headers["x-error"]?.stringValue?.contains("never ready") == true)
        await fixture.stop()
    }

    @Test("outbox rows of a rejected run are never published; committed ones are, once")
    func outboxOnlyAfterCommit() async throws {
        let fixture = try await RuntimeFixture { message, context, _ in
            try context.send(FollowUp(key: message.data.key), id: MessageID.derive("follow-up", message.data.key))
            if message.data.key.hasPrefix("fail") { return .rejected(ErrorCode("NOPE"), "rolled back after sending") }
            return .done
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

        // A second round finds nothing to send; then a sentinel, published after it, closes the stream.
        await fixture.relay.publishPending()
        try await fixture.probe.publish(
            exchange: "", routingKey: followQueue, properties: MessageProperties(messageId: "sentinel"), body: [])
        var received: [String] = []
        _ = await eventually {
            while let message = try? await fixture.probe.perform({ try $0.get(queue: followQueue) }) {
                received.append(message.properties.messageId ?? "")
            }
            return received.last == "sentinel"
        }
        #expect(received == [goodID.uuidString.lowercased(), "sentinel"])
        _ = try? await fixture.probe.perform { try $0.deleteQueue(followQueue) }
        await fixture.stop()
    }

    @Test(
        "group commit: many messages share a transaction; one that throws, is rejected or waits is split off and the rest take effect once")
    func groupCommit() async throws {
        let transactions = Shared<[String: Int64]>([:])
        let fixture = try await RuntimeFixture(delayTiersSeconds: [1], concurrency: 2, batchSize: 16, startConsuming: false) {
            message, context, invocation in
            let key = message.data.key
            let transaction: Int64 = try context.connection.query("SELECT txid_current() AS t").first!.decode("t")
            try recordEffect(message, context)
            if key.hasPrefix("boom") { throw UndecodableMessage(reason: "this message cannot be handled") }
            if key.hasPrefix("rule") { return .rejected(ErrorCode("RULE_BROKEN"), "refused") }
            if key.hasPrefix("later"), invocation == 1 {
                return .again(after: .seconds(1), until: Date().addingTimeInterval(60), because: "not yet")
            }
            transactions.update { $0[key] = transaction }
            return .done
        }
        let run = TestEnvironment.unique("batch")
        var keys: [String] = []
        for index in 0..<48 {
            let kind = index % 12 == 3 ? "boom" : index % 12 == 7 ? "rule" : index % 12 == 9 ? "later" : "ok"
            keys.append("\(kind)-\(run)-\(index)")
        }
        for key in keys { _ = try await fixture.send(key) }
        // Everything is waiting in the queue before the consumer starts: its first batches are full.
        fixture.start()
        let good = keys.filter { $0.hasPrefix("ok") || $0.hasPrefix("later") }
        let allApplied = await eventually(timeout: .seconds(30)) {
            var applied = 0
            for key in good where (try? await fixture.effects(key)) == 1 { applied += 1 }
            return applied == good.count
        }
        #expect(allApplied, "every good message took effect")
        for key in good { #expect(try await fixture.effects(key) == 1, "\(key) once") }
        for key in keys where key.hasPrefix("boom") || key.hasPrefix("rule") {
            #expect(try await fixture.effects(key) == 0, "\(key): its writes rolled back, its batch-mates' stand")
        }
        let dead = await eventually(timeout: .seconds(20)) { (try? await fixture.depth(fixture.policy.deadLetterQueue)) == 4 }
        #expect(dead, "the four that throw are dead-lettered")
        let consumer = fixture.consumerName
        let rejected = try await fixture.pool.withConnection { connection in
            try connection.query("SELECT count(*)::int AS n FROM inbox WHERE consumer = $1 AND outcome = 'failed'", consumer).first!.decode(
                "n", as: Int.self)
        }
        #expect(rejected == 4, "each rejection recorded with its inbox row")
        // Committed together: fewer transactions than messages.
        let distinct = Set(keys.filter { $0.hasPrefix("ok") }.compactMap { transactions.value[$0] }).count
        #expect(distinct < keys.filter { $0.hasPrefix("ok") }.count / 2, "\(distinct) transactions for the ok messages")
        await fixture.stop()
    }

    @Test(
        "group commit: a message queued twice before the consumer starts runs its handler once, and what a batch sends is written once each, in order"
    )
    func groupCommitDuplicatesAndOutbox() async throws {
        let transactions = Shared<Set<Int64>>([])
        let handled = Shared<[String]>([])
        let fixture = try await RuntimeFixture(delayTiersSeconds: [1], concurrency: 1, batchSize: 16, startConsuming: false) {
            message, context, _ in
            let transaction: Int64 = try context.connection.query("SELECT txid_current() AS t").first!.decode("t")
            transactions.update { _ = $0.insert(transaction) }
            handled.update { $0.append(message.data.key) }
            try recordEffect(message, context)
            try context.send(BatchFollowUp(key: message.data.key), id: MessageID.derive("batch-follow-up", message.data.key))
            return .done
        }
        let run = TestEnvironment.unique("dup")
        let keys = (0..<10).map { "ok-\(run)-\($0)" }
        var third: Envelope<RuntimeCommand>?
        for (index, key) in keys.enumerated() {
            let sent = try await fixture.send(key)
            if index == 2 { third = sent }
        }
        // The third again, with its id: a second copy in the same batch.
        _ = try await fixture.send(keys[2], id: third!.id)
        fixture.start()
        let applied = await eventually(timeout: .seconds(20)) {
            var done = 0
            for key in keys where (try? await fixture.effects(key)) == 1 { done += 1 }
            return done == keys.count
        }
        #expect(applied)
        try await fixture.sendSentinelAndWait()
        for key in keys { #expect(try await fixture.effects(key) == 1, "\(key) once") }
        #expect(handled.value.filter { $0 == keys[2] }.count == 1, "the second copy found its inbox row and did not run")
        #expect(transactions.value.count < keys.count, "\(transactions.value.count) transactions for \(keys.count) messages")
        let ids = PostgresArray(keys.map { MessageID.derive("batch-follow-up", $0) })
        let written: [UUID] = try await fixture.pool.withConnection { connection in
            try connection.query("SELECT message_id FROM outbox WHERE message_id = ANY($1::uuid[]) ORDER BY id", ids).map {
                try $0.decode("message_id", as: UUID.self)
            }
        }
        var order: [String] = []
        for key in handled.value where !order.contains(key) && keys.contains(key) { order.append(key) }
        #expect(Set(order) == Set(keys))
        #expect(written == order.map { MessageID.derive("batch-follow-up", $0) }, "one outbox row per message, in the order handled")
        // Nothing routes them; no relay should keep trying.
        try await fixture.pool.withConnection { try $0.execute("DELETE FROM outbox WHERE message_id = ANY($1::uuid[])", ids) }
        await fixture.stop()
    }
}
