import AMQP
import ArmadaTestSupport
import Curl
import Foundation
import Glibc
import Messaging
import OrdersContracts
import Provisioning
import Testing
import WalletContracts

@testable import Wallet

/// Tests that need a vhost where no shared worker consumes (`armada_test_isolated`), one at a time.
@Suite("Processes on an isolated vhost", .serialized)
struct IsolatedProcessTests {
    let pool = TestDatabase.pool(size: 2, name: "e2e-isolated")
    let amqpURL =
        ProcessInfo.processInfo.environment["ARMADA_TEST_ISOLATED_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:55672/armada_test_isolated"

    @Test("rejected callbacks publish nothing; an accepted one publishes exactly one message")
    func nothingPublishedForRejects() async throws {
        let (ingress, port, _) = try launch("armada-ingress", amqpURL: amqpURL)
        defer { ingress.signal(SIGKILL) }
        let base = "http://127.0.0.1:\(port)"
        #expect(await waitForHTTP(base + "/ready"))
        let broker = try await brokerClient(amqpURL)
        try await broker.perform { try $0.purgeQueue("armada.payments") }

        let (body, signature) = signedCallback(reference: "T0001NOTHING")
        _ = try await postCallback(base, body: body, signature: "0" + signature.dropFirst())
        _ = try await postCallback(base, body: body, signature: nil)
        _ = try await postCallback(base, body: body, signature: signature, event: "other")
        let garbage = Array("[]".utf8)
        _ = try await postCallback(base, body: garbage, signature: signedCallbackSignature(garbage))
        // The ingress answers only after the broker confirmed a publish: had any of these been
        // published, it would be in the queue already.
        #expect(try await broker.queueStatus("armada.payments").messages == 0)

        let accepted = try await postCallback(base, body: body, signature: signature)
        #expect(accepted.status == 200)
        // Confirmed before the 200: the message is in the queue now.
        let queued = try await broker.queueStatus("armada.payments").messages
        #expect(queued == 1)
        try await broker.perform { try $0.purgeQueue("armada.payments") }
        await broker.close()
    }

    @Test("with the broker unreachable the ingress answers 503 with Retry-After and is not ready")
    func brokerDown() async throws {
        let (ingress, port, _) = try launch("armada-ingress", amqpURL: "amqp://guest:guest@127.0.0.1:1/%2f")
        defer { ingress.signal(SIGKILL) }
        let base = "http://127.0.0.1:\(port)"
        #expect(await waitForHTTP(base + "/health"))
        let (body, signature) = signedCallback(reference: "T0001DOWN")
        let response = try await postCallback(base, body: body, signature: signature)
        #expect(response.status == 503)
        #expect(response.header("retry-after") == "5")
        #expect(json(response)["success"] as? Bool == false)
        let ready = try await CurlClient().send(HTTPRequest(url: base + "/ready"))
        #expect(ready.status == 503)
        #expect((json(ready)["checks"] as? [String: String])?["rabbitmq"] == "down")
    }

    @Test("a worker killed between commit and ack causes no second effect when the message comes back")
    func crashBetweenCommitAndAck() async throws {
        let broker = try await brokerClient(amqpURL)
        try await broker.perform { try $0.purgeQueue("armada.payments") }
        let (customer, reference) = try await pendingDeposit(pool)
        let (body, _) = signedCallback(reference: reference)
        let envelope = Envelope(
            id: TripayCallbackReceived.messageID(reference: reference, status: "PAID"),
            data: TripayCallbackReceived(rawBody: String(decoding: body, as: UTF8.self), receivedAt: Date()), occurredAt: Date())
        try await broker.publish(
            exchange: Exchange.commands, routingKey: TripayCallbackReceived.messageType,
            properties: MessageProperties(messageId: envelope.id.uuidString), body: try envelope.encoded())

        let (crashing, _, _) = try launch(
            "armada-payments", amqpURL: amqpURL, extra: ["ARMADA_FAULT_CRASH_AFTER_COMMIT": TripayCallbackReceived.messageType])
        let exit = await crashing.wait(timeout: .seconds(30))
        #expect(exit == 86, "the worker exited at the fault point: \(crashing.log)")
        #expect(try await balance(customer, pool) == 150_000, "the transaction committed before the crash")
        // Unacked, so the broker requeues it once it notices the dead connection. (At least one:
        // the worker's outbox relay may also have published commands other tests left in the
        // shared test database's outbox.)
        let requeued = await eventually { ((try? await broker.queueStatus("armada.payments").messages) ?? 0) >= 1 }
        #expect(requeued)

        let (worker, _, _) = try launch("armada-payments", amqpURL: amqpURL)
        let drained = await eventually {
            (try? await broker.queueStatus("armada.payments").messages) == 0 && worker.log.contains("already processed")
        }
        #expect(drained, "the redelivery was consumed as a duplicate: \(worker.log)")
        #expect(try await balance(customer, pool) == 150_000)
        #expect(try await ledgerCount(customer, pool) == 1)
        await worker.stop()
        await broker.close()
    }

    // Runs here, alone: while it rotates, no shared provisioner may open the tokens.
    @Test("armadactl do-accounts reseal rotates every stored token to the current key, once, and refuses a key that opens none")
    func resealRotation() async throws {
        let armadactl = TestEnvironment.binDirectory.appendingPathComponent("armadactl").path
        let newKey = String(repeating: "c3", count: 32)
        func sealedTokens() async throws -> [[UInt8]] {
            try await pool.withConnection {
                try $0.query("SELECT token_sealed FROM do_accounts ORDER BY id").map { try $0.decode("token_sealed") }
            }
        }
        // An account of the test's own (inactive: no order goes to it), besides any the
        // end-to-end suites added.
        let token = "test-fake-reseal-" + UUID().uuidString
        let sealed = try TokenSealer(hexKey: testEncryptionKey).seal(token)
        try await pool.transaction { connection in
            let id = UUID()
            _ = try DOAccounts.insert(
                id: id, name: TestEnvironment.unique("reseal"), sealedToken: sealed, fingerprint: TokenSealer.fingerprint(token),
                dropletLimit: 1, isPrimary: false, on: connection)
            _ = try connection.execute("UPDATE do_accounts SET active = false WHERE id = $1", id)
        }
        let before = try await sealedTokens()
        let plain = try before.map { try TokenSealer(hexKey: testEncryptionKey).open($0) }

        let wrong = try await ChildProcess.run(
            armadactl, ["do-accounts", "reseal"],
            environment: ["DATABASE_URL": TestEnvironment.databaseURL, "ARMADA_ENCRYPTION_KEY": newKey])
        #expect(wrong.status != 0 && wrong.output.contains("does not open"), "\(wrong.output)")
        #expect(try await sealedTokens() == before, "nothing changed")

        let rotate = try await ChildProcess.run(
            armadactl, ["do-accounts", "reseal"],
            environment: [
                "DATABASE_URL": TestEnvironment.databaseURL, "ARMADA_ENCRYPTION_KEY": newKey,
                "ARMADA_ENCRYPTION_KEY_PREVIOUS": testEncryptionKey,
            ])
        #expect(rotate.status == 0 && rotate.output.contains("resealed \(before.count) token(s)"), "\(rotate.output)")
        let rotated = try await sealedTokens()
        #expect(try rotated.map { try TokenSealer(hexKey: newKey).open($0) } == plain, "the same tokens, under the new key alone")
        let again = try await ChildProcess.run(
            armadactl, ["do-accounts", "reseal"],
            environment: [
                "DATABASE_URL": TestEnvironment.databaseURL, "ARMADA_ENCRYPTION_KEY": newKey,
                "ARMADA_ENCRYPTION_KEY_PREVIOUS": testEncryptionKey,
            ])
        #expect(again.output.contains("resealed 0 token(s) with the current key; \(before.count) already were"), "\(again.output)")

        // Back to the suites' key.
        let back = try await ChildProcess.run(
            armadactl, ["do-accounts", "reseal"],
            environment: [
                "DATABASE_URL": TestEnvironment.databaseURL, "ARMADA_ENCRYPTION_KEY": testEncryptionKey,
                "ARMADA_ENCRYPTION_KEY_PREVIOUS": newKey,
            ])
        #expect(back.status == 0)
        #expect(try await sealedTokens().map { try TokenSealer(hexKey: testEncryptionKey).open($0) } == plain)
    }

    @Test("a worker that cannot reach the broker is alive but not ready, naming what is down")
    func workerNotReady() async throws {
        let (worker, _, metricsPort) = try launch("armada-provisioner", amqpURL: "amqp://guest:guest@127.0.0.1:1/%2f")
        defer { worker.signal(SIGKILL) }
        let base = "http://127.0.0.1:\(metricsPort)"
        #expect(await waitForHTTP(base + "/health"), "\(worker.log)")
        let ready = try await CurlClient().send(HTTPRequest(url: base + "/ready"))
        #expect(ready.status == 503)
        #expect((json(ready)["checks"] as? [String: String]) == ["rabbitmq": "down", "postgres": "up"], "\(json(ready))")
    }

    @Test("SIGTERM stops a worker gracefully with exit status 0")
    func gracefulShutdown() async throws {
        let (worker, _, metricsPort) = try launch("armada-payments", amqpURL: amqpURL)
        #expect(await waitForHTTP("http://127.0.0.1:\(metricsPort)/health"))
        let consuming = await eventually { worker.log.contains("consuming") }
        #expect(consuming)
        #expect(await waitForHTTP("http://127.0.0.1:\(metricsPort)/ready"), "a consuming worker is ready")
        worker.signal(SIGTERM)
        let status = await worker.wait(timeout: .seconds(30))
        #expect(status == 0, "\(worker.log)")
        #expect(worker.log.contains("stopped consuming"))
    }

    @Test("a bad setting stops a process at start with exit status 2 and a message naming the variable")
    func badSettingStopsAtStart() async throws {
        for (name, value) in [("ARMADA_CONCURRENCY", "0"), ("ARMADA_METRICS_PORT", "91x"), ("ARMADA_RECONCILE_INTERVAL_SECONDS", "-5")] {
            let (worker, _, _) = try launch("armada-payments", amqpURL: amqpURL, extra: [name: value])
            let status = await worker.wait(timeout: .seconds(30))
            #expect(status == 2, "\(name)=\(value): \(worker.log)")
            #expect(worker.log.contains(name), "the message names \(name): \(worker.log)")
        }
    }
}
