import AMQP
import ArmadaTestSupport
import Curl
import Foundation
import Glibc
import Logging
import Messaging
import OrdersContracts
import Postgres
import Provisioning
import Testing
import WalletContracts

@testable import Wallet

/// Tests that need a vhost where no shared worker consumes (`armada_test_isolated`), one at a time.
@Suite("Processes on an isolated vhost", .serialized)
struct IsolatedProcessTests {
    let pool = TestDatabase.pool(size: 2, name: "e2e-isolated")
    let amqpURL = TestEnvironment.isolatedAMQPURL

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

    @Test("armadactl do-accounts reseal rotates every stored token to the current key, once, and refuses a key that opens none")
    func resealRotation() async throws {
        // A database of the test's own: the shared one holds accounts other suites sealed with
        // keys of their own, and a running provisioner must never see a half-rotation.
        let scratch = try await ScratchDatabase.make("reseal")
        defer { Task { await scratch.drop() } }
        let (url, database) = (scratch.url, scratch.pool)
        let armadactl = TestEnvironment.binDirectory.appendingPathComponent("armadactl").path

        let newKey = String(repeating: "c3", count: 32)
        let tokens = (0..<3).map { "test-fake-reseal-\($0)-" + UUID().uuidString }
        try await database.transaction { connection in
            for (index, token) in tokens.enumerated() {
                _ = try DOAccounts.insert(
                    id: UUID(), name: "reseal-\(index)", sealedToken: try TokenSealer(hexKey: testEncryptionKey).seal(token),
                    fingerprint: TokenSealer.fingerprint(token), dropletLimit: 1, isPrimary: index == 0, on: connection)
            }
        }
        func sealedTokens() async throws -> [[UInt8]] {
            try await database.withConnection {
                try $0.query("SELECT token_sealed FROM do_accounts ORDER BY name").map { try $0.decode("token_sealed") }
            }
        }
        func reseal(_ key: String, previous: String?) async throws -> (status: Int32, output: String) {
            var environment = ["DATABASE_URL": url, "ARMADA_ENCRYPTION_KEY": key]
            if let previous { environment["ARMADA_ENCRYPTION_KEY_PREVIOUS"] = previous }
            return try await ChildProcess.run(armadactl, ["do-accounts", "reseal"], environment: environment)
        }
        let before = try await sealedTokens()

        let wrong = try await reseal(newKey, previous: nil)
        #expect(wrong.status != 0 && wrong.output.contains("does not open"), "\(wrong.output)")
        #expect(try await sealedTokens() == before, "nothing changed")

        let rotate = try await reseal(newKey, previous: testEncryptionKey)
        #expect(
            rotate.status == 0 && rotate.output.contains("resealed 3 token(s) with the current key; 0 already were"), "\(rotate.output)")
        #expect(try await sealedTokens().map { try TokenSealer(hexKey: newKey).open($0) } == tokens, "the same tokens, under the new key")
        let again = try await reseal(newKey, previous: testEncryptionKey)
        #expect(again.output.contains("resealed 0 token(s) with the current key; 3 already were"), "\(again.output)")
        let dropped = try await reseal(newKey, previous: nil)
        #expect(dropped.status == 0, "the previous key is no longer needed: \(dropped.output)")
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
