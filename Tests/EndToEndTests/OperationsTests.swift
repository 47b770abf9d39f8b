import AMQP
import ArmadaTestSupport
import Curl
import Foundation
import Logging
import Messaging
import Operations
import Postgres
import Testing
import Wallet
import WalletContracts

/// A RabbitMQ virtual host of one test's own, with Armada's topology applied and nothing
/// consuming it: what it shows is only what the test put there. Made and removed through the
/// management API.
struct ScratchVhost {
    static var managementURL: String {
        ProcessInfo.processInfo.environment["RABBITMQ_MANAGEMENT_URL"] ?? "http://guest:guest@127.0.0.1:17674"
    }

    let name: String
    var amqpURL: String { "amqp://guest:guest@127.0.0.1:\(brokerPort)/\(name)" }
    var brokerPort: String { URLComponents(string: TestEnvironment.amqpURL)?.port.map(String.init) ?? "17672" }

    static func make() async throws -> ScratchVhost {
        let vhost = ScratchVhost(name: TestEnvironment.unique("armada_ops"))
        try await vhost.management("PUT", "/api/vhosts/\(vhost.name)")
        try await vhost.management("PUT", "/api/permissions/\(vhost.name)/guest", body: #"{"configure":".*","write":".*","read":".*"}"#)
        let applied = try await ChildProcess.run(
            TestEnvironment.binDirectory.appendingPathComponent("armadactl").path, ["topology", "apply"],
            environment: ["AMQP_URL": vhost.amqpURL, "DATABASE_URL": TestEnvironment.databaseURL])
        guard applied.status == 0 else { throw TestFailure("topology apply failed: \(applied.output)") }
        return vhost
    }

    func remove() async {
        try? await management("DELETE", "/api/vhosts/\(name)")
    }

    @discardableResult
    func management(_ method: String, _ path: String, body: String? = nil) async throws -> HTTPResponse {
        var components = URLComponents(string: Self.managementURL)!
        let credentials = "\(components.user ?? "guest"):\(components.password ?? "guest")"
        components.user = nil
        components.password = nil
        let response = try await CurlClient().send(
            HTTPRequest(
                method: method, url: components.string! + path,
                headers: [
                    ("Authorization", "Basic " + Data(credentials.utf8).base64EncodedString()), ("Content-Type", "application/json"),
                ], body: body.map { Array($0.utf8) } ?? (method == "PUT" ? Array("{}".utf8) : nil)))
        guard (200..<300).contains(response.status) else {
            throw TestFailure("management \(method) \(path): \(response.status) \(String(decoding: response.body, as: UTF8.self))")
        }
        return response
    }
}

/// Publishes `count` messages straight to `queue` (the default exchange).
func put(_ count: Int, on queue: String, _ broker: BrokerClient, type: String = "test.ops", headers: [String: HeaderValue] = [:])
    async throws
{
    for _ in 0..<count {
        let id = UUID().uuidString.lowercased()
        try await broker.publish(
            exchange: "", routingKey: queue, properties: MessageProperties(messageId: id, type: type, headers: headers),
            body: Array(#"{"id":"\#(id)"}"#.utf8))
    }
}

@Suite("Operations: queues, dead letters and the ops page on a vhost of the test's own")
struct OperationsTests {
    let pool = TestDatabase.pool(size: 2, name: "ops")

    func collector(_ vhost: ScratchVhost, _ broker: BrokerClient, management: Bool = true) throws -> OpsCollector {
        try OpsCollector(
            topology: Topology.bundled(), pool: pool, broker: broker,
            management: management ? ManagementAPI(url: ScratchVhost.managementURL, amqpURL: vhost.amqpURL) : nil,
            amqpURL: vhost.amqpURL)
    }

    @Test(
        "a snapshot shows what waits where, warns about work without a worker and dead letters, and ages a backlog until it drains")
    func snapshot() async throws {
        let vhost = try await ScratchVhost.make()
        let broker = try await brokerClient(vhost.amqpURL)
        defer {
            Task {
                await broker.close(); await vhost.remove()
            }
        }
        try await put(3, on: "armada.lifecycle", broker)
        try await put(2, on: "armada.payments.dead", broker)
        let ops = try collector(vhost, broker)

        var last: OpsSnapshot?
        let counted = try await eventually(timeout: .seconds(15), every: .milliseconds(250)) {
            last = try await ops.snapshot()
            let queues = Dictionary(uniqueKeysWithValues: last!.queues.map { ($0.name, $0) })
            return queues["armada.lifecycle"]?.ready == 3 && queues["armada.payments.dead"]?.ready == 2
        }
        #expect(counted, "the management API's counts: \(String(describing: last?.queues.filter { $0.ready > 0 }))")
        let first = try #require(last)
        #expect(first.brokerSource == "management")
        let lifecycle = try #require(first.queues.first { $0.name == "armada.lifecycle" })
        #expect(lifecycle.consumers == 0 && lifecycle.unacknowledged == 0 && lifecycle.kind == .work)
        #expect(lifecycle.consumer == "armada-lifecycle")
        #expect(first.deadLetters == 2)
        #expect(first.queues.filter { $0.ready > 0 }.count == 2, "nothing else holds messages in a fresh vhost")
        #expect(
            first.warnings.contains("armada.lifecycle holds 3 message(s) and has no consumer: is armada-lifecycle running?"),
            "\(first.warnings)")
        #expect(first.warnings.contains { $0.hasPrefix("armada.payments.dead holds 2 dead letter(s)") }, "\(first.warnings)")
        #expect(first.queues.filter { $0.kind == .work && $0.ready == 0 }.allSatisfy { $0.oldestReadySeconds == nil })

        // The backlog's age grows from the first sighting while the queue stays non-empty.
        let since = try #require(lifecycle.oldestReadySeconds)
        var older: Double?
        let aged = try await eventually(timeout: .seconds(10), every: .milliseconds(200)) {
            older = try await ops.snapshot().queues.first { $0.name == "armada.lifecycle" }?.oldestReadySeconds
            return (older ?? 0) >= since + 1
        }
        #expect(aged, "from \(since) s to \(String(describing: older)) s")

        // Without the management API the same counts come over AMQP, without unacked or rates.
        let plain = try await collector(vhost, broker, management: false).snapshot()
        let plainLifecycle = try #require(plain.queues.first { $0.name == "armada.lifecycle" })
        #expect(plain.brokerSource == "amqp" && plainLifecycle.ready == 3 && plainLifecycle.unacknowledged == nil)
        #expect(plainLifecycle.publishRate == nil && plainLifecycle.consumers == 0)

        // Drained: no age, no warning.
        _ = try await broker.perform { try $0.purgeQueue("armada.lifecycle") }
        var drained: OpsSnapshot?
        let empty = try await eventually(timeout: .seconds(15), every: .milliseconds(250)) {
            drained = try await ops.snapshot()
            return drained!.queues.first { $0.name == "armada.lifecycle" }?.ready == 0
        }
        #expect(empty)
        #expect(drained?.queues.first { $0.name == "armada.lifecycle" }?.oldestReadySeconds == nil)
        #expect(drained?.warnings.contains { $0.hasPrefix("armada.lifecycle") } == false)
        let rows = try await pool.withConnection {
            try $0.query("SELECT queue FROM queue_backlog WHERE vhost = $1 ORDER BY queue", vhost.name).map {
                try $0.decode("queue", as: String.self)
            }
        }
        #expect(rows == ["armada.payments.dead"], "only the non-empty queue keeps its first sighting")
    }

    @Test("with PostgreSQL unreachable the broker's figures are still shown, with a warning and no outbox")
    func databaseDown() async throws {
        let vhost = try await ScratchVhost.make()
        let broker = try await brokerClient(vhost.amqpURL)
        defer {
            Task {
                await broker.close(); await vhost.remove()
            }
        }
        try await put(2, on: "armada.telegram", broker)
        let unreachable = PostgresPool(
            connectionString: "postgresql://armada@127.0.0.1:1/armada?connect_timeout=2", size: 1, applicationName: "ops-down",
            logger: Logger(label: "t"))
        let ops = OpsCollector(
            topology: try Topology.bundled(), pool: unreachable, broker: broker, management: nil, amqpURL: vhost.amqpURL)
        let snapshot = try await ops.snapshot()
        #expect(snapshot.outbox == nil && snapshot.recentFlags.isEmpty)
        #expect(snapshot.warnings.first?.hasPrefix("PostgreSQL did not answer") == true, "\(snapshot.warnings)")
        let telegram = try #require(snapshot.queues.first { $0.name == "armada.telegram" })
        #expect(telegram.ready == 2 && telegram.oldestReadySeconds == nil)
        #expect(snapshot.warnings.contains("armada.telegram holds 2 message(s) and has no consumer: is armada-notifier running?"))
    }

    @Test("dead letters: filters select by type, error and id; the rest stay; replay strips the runtime's headers")
    func deadLetters() async throws {
        let vhost = try await ScratchVhost.make()
        let broker = try await brokerClient(vhost.amqpURL)
        defer {
            Task {
                await broker.close(); await vhost.remove()
            }
        }
        let dead = "armada.payments.dead"
        func error(_ text: String) -> [String: HeaderValue] {
            ["x-error": .string(text), "x-error-class": .string("retries-exhausted"), "x-attempts": .string("8")]
        }
        try await put(2, on: dead, broker, type: "payments.a", headers: error("Tripay answered 500"))
        try await put(1, on: dead, broker, type: "payments.b", headers: error("connect TIMEOUT after 5 s"))
        try await put(1, on: dead, broker, type: "payments.c", headers: error("poison: bad amount"))
        func ready(_ queue: String) async throws -> UInt32 { try await broker.queueStatus(queue).messages }
        let browser = DeadLetterBrowser(client: broker, policy: try Topology.bundled().policy(for: "armada.payments"))

        let shown = try await browser.run(.show, filter: .init(type: "payments.a"), limit: 10)
        #expect(shown.count == 2 && shown.allSatisfy { $0.type == "payments.a" && $0.error == "Tripay answered 500" })
        #expect(await eventually { (try? await ready(dead)) == 4 }, "showing takes nothing away")

        let replayed = try await browser.run(.replay, filter: .init(error: "timeout"), limit: 10)
        #expect(replayed.map(\.type) == ["payments.b"], "the error filter ignores case")
        let moved = await eventually {
            let (left, back) = ((try? await ready(dead)), (try? await ready("armada.payments")))
            return left == 3 && back == 1
        }
        #expect(moved)
        let back = try #require(try await broker.perform { try $0.get(queue: "armada.payments") })
        #expect(back.properties.type == "payments.b" && back.properties.messageId == replayed[0].messageId)
        #expect(back.properties.headers["x-error"] == nil && back.properties.headers["x-attempts"] == nil)
        #expect(back.properties.headers["x-replayed-at"] != nil)

        let target = try #require(shown.first?.messageId)
        let purged = try await browser.run(.discard, filter: .init(messageId: target), limit: .max)
        #expect(purged.map(\.messageId) == [target])
        #expect(await eventually { (try? await ready(dead)) == 2 })
        let left = try await browser.run(.show, filter: .init(), limit: 10)
        #expect(Set(left.compactMap(\.type)) == ["payments.a", "payments.c"] && !left.contains { $0.messageId == target })
    }

    @Test("armadactl queues --json, dead-letters show, and purge that asks first")
    func commandLine() async throws {
        let vhost = try await ScratchVhost.make()
        let broker = try await brokerClient(vhost.amqpURL)
        defer {
            Task {
                await broker.close(); await vhost.remove()
            }
        }
        try await put(2, on: "armada.email", broker)
        try await put(
            3, on: "armada.email.dead", broker, type: "notifications.send-email", headers: ["x-error": .string("550 mailbox unavailable")])
        let armadactl = TestEnvironment.binDirectory.appendingPathComponent("armadactl").path
        let environment = ["AMQP_URL": vhost.amqpURL, "DATABASE_URL": TestEnvironment.databaseURL]

        var snapshot: [String: Any] = [:]
        let listed = try await eventually(timeout: .seconds(15), every: .milliseconds(300)) {
            let run = try await ChildProcess.run(armadactl, ["queues", "--json"], environment: environment)
            guard run.status == 0, let data = run.output.data(using: .utf8),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { return false }
            snapshot = object
            let queues = (object["queues"] as? [[String: Any]]) ?? []
            return queues.contains { $0["name"] as? String == "armada.email" && $0["ready"] as? Int == 2 }
                && queues.contains { $0["name"] as? String == "armada.email.dead" && $0["ready"] as? Int == 3 }
        }
        #expect(listed, "\(snapshot)")
        #expect((snapshot["warnings"] as? [String])?.contains { $0.contains("armada.email holds 2 message(s)") } == true)

        let table = try await ChildProcess.run(armadactl, ["queues"], environment: environment)
        #expect(table.status == 0 && table.output.contains("WARNING: armada.email.dead holds 3 dead letter(s)"), "\(table.output)")

        let list = try await ChildProcess.run(
            armadactl, ["dead-letters", "list", "--queue", "armada.email", "--json", "--error", "MAILBOX"], environment: environment)
        let letters = list.output.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(letters.count == 3, "\(list.output)")
        let id = try #require(letters.first?["messageId"] as? String)
        let show = try await ChildProcess.run(armadactl, ["dead-letters", "show", "--queue", "armada.email", id], environment: environment)
        #expect(show.status == 0 && show.output.contains("x-error: 550 mailbox unavailable") && show.output.contains(id), "\(show.output)")

        // No answer on standard input is no: nothing is deleted.
        let refused = try await ChildProcess.run(armadactl, ["dead-letters", "purge", "--queue", "armada.email"], environment: environment)
        #expect(refused.status != 0 && refused.output.contains("nothing deleted"), "\(refused.output)")
        #expect(try await broker.queueStatus("armada.email.dead").messages == 3)
        let purged = try await ChildProcess.run(
            armadactl, ["dead-letters", "purge", "--queue", "armada.email", "--yes"], environment: environment)
        #expect(purged.status == 0 && purged.output.contains("purged 3 dead letter(s)"), "\(purged.output)")
        #expect(try await broker.queueStatus("armada.email.dead").messages == 0)
        #expect(try await broker.queueStatus("armada.email").messages == 2, "the work queue is not touched")
    }

    @Test("the ops API is for admins; the gauges follow the queues; the ops page refreshes itself in headless Chromium")
    func opsPage() async throws {
        let vhost = try await ScratchVhost.make()
        let broker = try await brokerClient(vhost.amqpURL)
        // A database of its own too: the page lists the latest 20 flags, and the shared database
        // gets flags from other suites at any moment.
        let database = try await ScratchDatabase.make("ops")
        let (ingress, port, _) = try await launchListening(
            "armada-ingress", amqpURL: vhost.amqpURL, extra: ["ARMADA_OPS_SAMPLE_SECONDS": "1", "DATABASE_URL": database.url])
        defer {
            Task {
                ingress.signal(SIGTERM)
                await broker.close()
                await vhost.remove()
                await database.drop()
            }
        }
        let base = "http://127.0.0.1:\(port)"
        #expect(await waitForHTTP(base + "/ready"), "\(ingress.log)")

        let anonymous = try await APIClient(base: base, token: nil).send("GET", "/api/v1/admin/ops")
        #expect(anonymous.status == 401)
        let customerToken = try await Tokens.make(customer: TestEnvironment.unique("customer"))
        let customer = try await APIClient(base: base, token: customerToken).send("GET", "/api/v1/admin/ops")
        #expect(customer.status == 403 && (json(customer)["error"] as? [String: Any])?["code"] as? String == "FORBIDDEN")
        let adminToken = try await Tokens.make(customer: TestEnvironment.unique("admin"), role: "admin")
        let admin = try await APIClient(base: base, token: adminToken).send("GET", "/api/v1/admin/ops")
        #expect(admin.status == 200)
        let names = (json(admin)["queues"] as? [[String: Any]])?.compactMap { $0["name"] as? String } ?? []
        #expect(names.contains("armada.notifications") && names.contains("armada.notifications.dead"), "\(names)")

        // A flagged deposit whose texts are markup: the page must show them as text.
        let hostile = #"<img src=x onerror="document.title='pwned'">"#
        let hostileCustomer = "<b>cust</b>-" + UUID().uuidString.prefix(6)
        let depositId = UUID()
        try await database.pool.transaction { connection in
            _ = try Deposits.insert(
                NewDeposit(
                    id: depositId, customerId: hostileCustomer, amount: 50_000, fee: 0, method: "BRIVA",
                    reference: "T0001OPS\(UUID().uuidString.prefix(8))", expiresAt: Date().addingTimeInterval(3600)),
                on: connection)
            _ = try connection.execute(
                "INSERT INTO deposit_flags (deposit_id, flag, detail) VALUES ($1, 'AMOUNT_MISMATCH', $2)", depositId, hostile)
        }

        try await put(4, on: "armada.provisioning", broker)
        let gauge = #"armada_queue_messages_ready{queue="armada.provisioning",kind="work",work_queue="armada.provisioning"} 4"#
        let sampled = await eventually(timeout: .seconds(15), every: .milliseconds(250)) {
            let metrics = try? await CurlClient().send(HTTPRequest(url: base + "/metrics"))
            return metrics.map { String(decoding: $0.body, as: UTF8.self).contains(gauge) } ?? false
        }
        #expect(sampled, "the sampler recorded the queue's depth as a gauge")

        let page = try await CurlClient().send(HTTPRequest(url: base + "/ops"))
        #expect(page.status == 200 && page.header("Content-Type")?.hasPrefix("text/html") == true)
        #expect(!String(decoding: page.body, as: UTF8.self).contains("armada.provisioning"), "the page itself holds no data")

        // The browser renders, then the test adds two messages: only the page's own refresh can
        // show them.
        let artifacts = TestEnvironment.repositoryRoot.appendingPathComponent(".local/test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let screenshot = artifacts.appendingPathComponent("ops-page.png").path
        try? FileManager.default.removeItem(atPath: screenshot)
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("Tests/Support/peers/ops_page.py").path
        let browser = try ChildProcess(
            "/usr/bin/python3", [script, base, adminToken, screenshot, "armada.notifications", "2"],
            logPath: NSTemporaryDirectory() + "armada-ops-page-\(UUID().uuidString.prefix(6)).log")
        #expect(await eventually(timeout: .seconds(60)) { browser.log.contains("RENDERED") || !browser.isRunning }, "\(browser.log)")
        try await put(2, on: "armada.notifications", broker)
        #expect(await browser.wait(timeout: .seconds(60)) == 0, "\(browser.log)")
        let result = try #require(
            browser.log.split(separator: "\n").last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] },
            "\(browser.log)")
        let first = try #require(result["first"] as? [String: Any])
        let last = try #require(result["last"] as? [String: Any])
        let firstQueues = try #require(first["queues"] as? [String: [String: Any]])
        let lastQueues = try #require(last["queues"] as? [String: [String: Any]])
        #expect(firstQueues["armada.notifications"]?["ready"] as? Int == 0)
        #expect((lastQueues["armada.notifications"]?["ready"] as? Int ?? 0) >= 2)
        #expect(lastQueues["armada.notifications"]?["bad"] as? Bool == true, "work without a consumer is marked")
        #expect(lastQueues["armada.provisioning"]?["ready"] as? Int == 4)
        #expect(first["takenAt"] as? String != last["takenAt"] as? String, "a later snapshot")
        #expect(
            (last["warnings"] as? [String])?.contains(
                "armada.notifications holds 2 message(s) and has no consumer: is armada-notifier running?")
                == true, "\(last)")
        #expect((result["consoleErrors"] as? [String])?.isEmpty == true, "\(result)")
        #expect((last["flagText"] as? String)?.contains(hostile) == true, "the flag's detail shown as text")
        #expect((last["flagText"] as? String)?.contains(hostileCustomer) == true, "the customer id shown as text")
        #expect(last["flagMarkup"] as? Int == 0, "no element made from a flag's texts")
        #expect(last["title"] as? String == "Armada operations", "no script ran from a flag's texts")
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(png.count > 10_000 && png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]), "a screenshot was saved at \(screenshot)")

        // A customer's token gets no data in the page either.
        let refused = try await ChildProcess.run("/usr/bin/python3", [script, base, customerToken, screenshot + ".refused.png"])
        #expect(refused.output.contains(#""refused": "the token was refused (403)"#), "\(refused.output)")
    }
}
