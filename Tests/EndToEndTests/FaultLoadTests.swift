import AMQP
import ArmadaTestSupport
import Curl
import Foundation
import Glibc
import Lifecycle
import Messaging
import OrdersContracts
import Postgres
import Testing

/// A whole deployment of its own (a vhost, a database, every simulator, two payments workers, two
/// provisioners, lifecycle, notifier, the ingress) under a mixed load through the public API,
/// while processes are killed, the broker and PostgreSQL restart, the broker freezes and every
/// simulator misbehaves. When the load drains, `armadactl audit` and the checks below must hold.
/// `Deploy/faults/run.sh` runs it (`--ci`: the short profile `Deploy/local/test.sh` runs); the
/// report is written to `.local/test-artifacts/fault-report.md` (Docs/reliability.md).
@Suite(
    "Faults under load", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["ARMADA_FAULT_LOAD"] != nil))
struct FaultLoadTests {
    /// One run: how many customers, how long the faults last, what is done when.
    struct Scenario {
        var name: String
        var customers: Int
        var chaosSeconds: Int
        /// Seconds between SIGKILLs of a random process; 0 for none.
        var killEverySeconds: Double
        /// Faults at fractions of the chaos window.
        var schedule: [(Double, String)]
        /// The broker: a scratch vhost on the local stack, or the three-node cluster.
        var cluster: Bool
    }

    static let full = ProcessInfo.processInfo.environment["ARMADA_FAULT_LOAD"] == "full"

    static let stackScenario = Scenario(
        name: "single-broker", customers: full ? 120 : 12, chaosSeconds: full ? 240 : 40, killEverySeconds: 4,
        schedule: [
            (0.10, "simulators"), (0.25, "broker-restart"), (0.45, "postgres-restart"), (0.65, "broker-freeze"),
            (0.75, "slow-simulators"), (0.95, "calm-simulators"),
        ], cluster: false)

    /// Node 1 is first in every process's AMQP_URL list, so most connections and every queue
    /// leader are there when it is killed.
    static let clusterScenario = Scenario(
        name: "three-node-cluster", customers: full ? 60 : 6, chaosSeconds: full ? 120 : 25, killEverySeconds: 0,
        schedule: [(0.25, "cluster-kill-1"), (0.75, "cluster-start-1")], cluster: true)

    static let basicPlan = "6a1f0c3e-0b7d-5b0e-9a51-000000000001"

    /// The deployment's processes; a killed one is launched again with the same settings.
    actor Fleet {
        struct Member {
            var name: String
            var extra: [String: String]
            var httpPort: Int
            var process: ChildProcess
        }

        let amqpURL: String
        private(set) var members: [Member] = []
        private(set) var kills: [String: Int] = [:]
        /// Exits nobody caused: a process that died of a fault it should have survived.
        private(set) var unexpectedExits: [String] = []
        private var log: [String] = []

        init(amqpURL: String) { self.amqpURL = amqpURL }

        func start(_ name: String, httpPort: Int = freePort(), extra: [String: String]) throws {
            let (process, _, _) = try launch(name, amqpURL: amqpURL, httpPort: httpPort, extra: extra)
            members.append(Member(name: name, extra: extra, httpPort: httpPort, process: process))
        }

        /// SIGKILL one member and launch it again.
        func kill(_ index: Int) async throws -> String {
            let member = members[index]
            member.process.signal(SIGKILL)
            _ = await member.process.wait(timeout: .seconds(10))
            kills[member.name, default: 0] += 1
            members[index].process = try launch(member.name, amqpURL: amqpURL, httpPort: member.httpPort, extra: member.extra).0
            return member.name
        }

        /// Launches again any member that exited on its own, and remembers it.
        func reviveExited() throws {
            for (index, member) in members.enumerated() where !member.process.isRunning {
                unexpectedExits.append("\(member.name) (status \(member.process.status ?? -1)): \(member.process.log.suffix(600))")
                members[index].process = try launch(member.name, amqpURL: amqpURL, httpPort: member.httpPort, extra: member.extra).0
            }
        }

        func stopAll() async {
            for member in members { await member.process.stop(grace: .seconds(5)) }
        }
    }

    /// What happened, for the report.
    actor Journal {
        let started = ContinuousClock.now
        private(set) var faults: [String] = []
        private(set) var accepted: [String] = []
        private(set) var requests = 0
        private(set) var refusedTransiently = 0
        private(set) var paidReferences: Set<String> = []
        private(set) var outcomes: [String: Int] = [:]

        func fault(_ text: String) {
            let offset = ContinuousClock.now - started
            faults.append(
                String(format: "%6.1f s  ", Double(offset.components.seconds) + Double(offset.components.attoseconds) / 1e18) + text)
        }
        func request(transient: Bool) {
            requests += 1
            if transient { refusedTransiently += 1 }
        }
        func accept(_ commandId: String) { accepted.append(commandId) }
        func paid(_ reference: String) { paidReferences.insert(reference) }
        func outcome(_ name: String) { outcomes[name, default: 0] += 1 }
        private(set) var ticks = 0
        func tick() { ticks += 1 }
    }

    /// Sends until the answer is one of `wanted` (the same Idempotency-Key every time, as a client
    /// retrying after a lost answer would); connection errors, 5xx and 429 are waited out.
    static func send(
        _ api: APIClient, _ journal: Journal, _ method: String, _ path: String, json: String? = nil, key: String? = nil,
        wanted: Set<Int> = [200, 202], deadline: ContinuousClock.Instant
    ) async throws -> [String: Any] {
        while ContinuousClock.now < deadline {
            let response = try? await api.send(method, path, json: json, idempotencyKey: key)
            let status = response?.status ?? 0
            await journal.request(transient: !wanted.contains(status))
            if let response, wanted.contains(status) { return FaultLoadTests.json(response) }
            if let response, (400..<500).contains(status), status != 429, status != 404 {
                throw TestFailure("\(method) \(path): \(status) \(String(decoding: response.body, as: UTF8.self))")
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw TestFailure("\(method) \(path): no answer in \(wanted) before the deadline")
    }

    static func json(_ response: HTTPResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
    }

    /// One customer's story: contact, a top-up paid at Tripay, an order, until it is up or failed.
    static func customer(
        _ index: Int, base: String, tripay: String, journal: Journal, deadline: ContinuousClock.Instant
    ) async throws {
        let id = "fault-\(index)-\(UUID().uuidString.prefix(6).lowercased())"
        let api = APIClient(base: base, token: try await Tokens.make(customer: id))
        let contact = try await send(
            api, journal, "PUT", "/api/v1/me/contact",
            json: #"{"email":"\#(id)@example.test","name":"Fault \#(index)","telegramChatId":"\#(7_000_000_000 + index)"}"#,
            key: "contact-\(id)", deadline: deadline)
        await journal.accept(contact["commandId"] as? String ?? "?")
        let deposit = try await send(
            api, journal, "POST", "/api/v1/wallet/deposits", json: #"{"amount":120000,"method":"BRIVA"}"#, key: "deposit-\(id)",
            deadline: deadline)
        await journal.accept(deposit["commandId"] as? String ?? "?")
        let depositId = try #require(deposit["depositId"] as? String)
        var reference: String?
        while reference == nil, ContinuousClock.now < deadline {
            let shown = try? await send(
                api, journal, "GET", "/api/v1/wallet/deposits/\(depositId)", wanted: [200, 404], deadline: deadline)
            if shown?["status"] as? String == "FAILED" {
                await journal.outcome("deposit failed to create")
                return
            }
            reference = shown?["reference"] as? String
            if reference == nil { try await Task.sleep(for: .milliseconds(500)) }
        }
        guard let reference else {
            let command = try? await send(
                api, journal, "GET", "/api/v1/commands/\(deposit["commandId"] as? String ?? "-")", wanted: [200, 404],
                deadline: .now + .seconds(10))
            throw TestFailure("\(id): the deposit never got a Tripay reference; its command: \(command ?? [:])")
        }
        _ = try await send(
            APIClient(base: tripay, token: nil), journal, "POST", "/_sim/transactions/\(reference)/pay", deadline: deadline)
        await journal.paid(reference)
        var balance = 0
        while balance < 120_000, ContinuousClock.now < deadline {
            balance = (try? await send(api, journal, "GET", "/api/v1/wallet", deadline: deadline))?["balance"] as? Int ?? 0
            if balance < 120_000 { try await Task.sleep(for: .milliseconds(500)) }
        }
        guard balance >= 120_000 else { throw TestFailure("\(id): the paid deposit was never credited") }
        let order = try await send(
            api, journal, "POST", "/api/v1/orders",
            json: #"{"planId":"\#(basicPlan)","image":"ubuntu-24-04-x64","billingPeriod":"MONTHLY","hostname":"f\#(index)"}"#,
            key: "order-\(id)", deadline: deadline)
        await journal.accept(order["commandId"] as? String ?? "?")
        let orderId = try #require(order["orderId"] as? String)
        while ContinuousClock.now < deadline {
            let status =
                (try? await send(api, journal, "GET", "/api/v1/orders/\(orderId)", wanted: [200, 404], deadline: deadline))?[
                    "status"] as? String
            if let status, ["ACTIVE", "FAILED", "EXPIRING_SOON", "SUSPENDED", "TERMINATED"].contains(status) {
                await journal.outcome("order \(status)")
                return
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw TestFailure("\(id): the order never came up or failed")
    }

    /// Publishes a lifecycle tick `days` from now (confirmed), trying up to `attempts` times a second apart.
    static func tick(days: Double, broker: BrokerClient, journal: Journal, attempts: Int) async {
        let now = Date().addingTimeInterval(days * 86_400)
        for _ in 0..<attempts {
            if (try? await broker.publish(Envelope(id: UUID(), data: LifecycleTick(now: now), occurredAt: now))) != nil {
                await journal.tick()
                return
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    static func post(_ url: String, _ body: String) async {
        _ = try? await CurlClient().send(
            HTTPRequest(method: "POST", url: url, headers: [("Content-Type", "application/json")], body: Array(body.utf8)))
    }

    @Test(
        "SIGKILLs of every process, broker and PostgreSQL restarts, a frozen broker, failing simulators: the books and the work audit clean"
    )
    func faultsUnderLoad() async throws {
        try await Self.run(Self.stackScenario)
    }

    @Test(
        "a three-node RabbitMQ cluster with quorum queues loses the node every process is connected to, under load: nothing lost, nothing twice"
    )
    func clusterNodeKilled() async throws {
        try await Self.run(Self.clusterScenario)
    }

    /// One scheduled fault, by its name in a scenario's schedule, noted in the journal.
    static func inject(
        _ name: String, tripay tripayURL: String, digitalOcean digitalOceanURL: String, telegram telegramURL: String, journal: Journal
    ) async {
        switch name {
        case "simulators":
            await Self.post(
                tripayURL + "/_sim/faults",
                #"{"serverErrors":2,"rateLimited":2,"lostCreateResponses":2,"droppedCallbacks":2}"#)
            await Self.post(
                digitalOceanURL + "/_sim/faults",
                #"{"serverErrors":2,"rateLimited":2,"lostCreateResponses":2,"erroredCreates":1}"#)
            await Self.post(telegramURL + "/_sim/faults", #"{"chatId":null,"kind":"server-error","count":2}"#)
            await Self.post(
                telegramURL + "/_sim/faults", #"{"chatId":null,"kind":"too-many-requests","count":1,"retryAfter":1}"#)
            await journal.fault(
                "simulators: Tripay 2×500, 2×429, 2 lost create answers, 2 dropped callbacks; DigitalOcean 2×500, 2×429, 2 lost create answers, 1 errored create; Telegram 2×500, 1×429"
            )
        case "broker-restart":
            await journal.fault("RabbitMQ stopped")
            try? await TestEnvironment.stack("rabbit-stop")
            try? await TestEnvironment.stack("rabbit-start")
            await journal.fault("RabbitMQ started again")
        case "postgres-restart":
            await journal.fault("PostgreSQL restarting")
            try? await TestEnvironment.stack("restart-postgres")
            await journal.fault("PostgreSQL up again")
        case "broker-freeze":
            if let pid = try? TestEnvironment.brokerPID() {
                Glibc.kill(pid, SIGSTOP)
                await journal.fault("RabbitMQ frozen (SIGSTOP) for 12 s, over twice the 5 s heartbeat")
                try? await Task.sleep(for: .seconds(12))
                Glibc.kill(pid, SIGCONT)
                await journal.fault("RabbitMQ resumed (SIGCONT)")
            }
        case "slow-simulators":
            await Self.post(tripayURL + "/_sim/faults", #"{"delaySeconds":2}"#)
            await Self.post(digitalOceanURL + "/_sim/faults", #"{"delaySeconds":2}"#)
            await Self.post(telegramURL + "/_sim/faults", #"{"chatId":null,"kind":"slow","count":5,"delayMs":3000}"#)
            await journal.fault(
                "simulators slow: Tripay and DigitalOcean answer after 2 s, Telegram 5 answers after 3 s")
        case "calm-simulators":
            await Self.post(tripayURL + "/_sim/faults", #"{"delaySeconds":0}"#)
            await Self.post(digitalOceanURL + "/_sim/faults", #"{"delaySeconds":0}"#)
            await journal.fault("simulators answer promptly again")
        case "cluster-kill-1":
            _ = try? await Self.cluster("kill 1")
            await journal.fault("cluster node 1 SIGKILLed (first in every AMQP_URL list)")
        case "cluster-start-1":
            _ = try? await Self.cluster("start 1")
            await journal.fault("cluster node 1 started again: \((try? await Self.cluster("status")) ?? "?")")
        default: break
        }
    }

    static func cluster(_ command: String) async throws -> String {
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("Deploy/faults/cluster.sh").path
        let (status, output) = try await ChildProcess.run(
            "/bin/bash", [script] + command.split(separator: " ").map(String.init), timeout: .seconds(300))
        guard status == 0 else { throw TestFailure("cluster.sh \(command): \(output)") }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func run(_ profile: Scenario) async throws {
        var vhost: ScratchVhost?
        let amqpURL: String
        if profile.cluster {
            // Once more from scratch if the first start fails (its error is kept for the report).
            do { _ = try await cluster("up") } catch { print("cluster up failed once: \(error)"); _ = try await cluster("up") }
            amqpURL = try await cluster("url").split(separator: ",").map { $0 + "?heartbeat=5" }.joined(separator: ",")
            let applied = try await ChildProcess.run(
                TestEnvironment.binDirectory.appendingPathComponent("armadactl").path, ["topology", "apply"],
                environment: ["AMQP_URL": amqpURL, "DATABASE_URL": TestEnvironment.databaseURL])
            guard applied.status == 0 else { throw TestFailure("topology apply on the cluster: \(applied.output)") }
        } else {
            vhost = try await ScratchVhost.make()
            amqpURL = vhost!.amqpURL + "?heartbeat=5"
        }
        let database = try await ScratchDatabase.make("faults")
        let journal = Journal()

        // Simulators, and the account every order goes to.
        let ingressPort = freePort()
        let (tripay, tripayURL) = try await Peers.tripaySimulator(
            apiKey: testTripayAPIKey, privateKey: testTripayKey, callbackURL: "http://127.0.0.1:\(ingressPort)/api/v1/webhooks/tripay",
            callbackIntervalSeconds: 2)
        let doToken = "fault-do-token-" + UUID().uuidString.lowercased()
        let (digitalOcean, digitalOceanURL) = try await Peers.digitalOceanSimulator(
            tokens: [doToken], dropletLimit: 10_000, perMinute: 250, rateWindowSeconds: 6)
        let (telegram, telegramURL) = try await Peers.telegramSimulator(token: testBotToken)
        let sink = try await Peers.armadaSMTPSink()
        let sealer = try TokenSealer(hexKey: testEncryptionKey)
        try await database.pool.transaction { connection in
            _ = try DOAccounts.insert(
                id: UUID(), name: "faults", sealedToken: try sealer.seal(doToken), fingerprint: TokenSealer.fingerprint(doToken),
                dropletLimit: 10_000, isPrimary: true, on: connection)
        }

        let fleet = Fleet(amqpURL: amqpURL)
        let brokerHolder = BrokerHolder()
        do {
            try await Self.exercise(
                profile, amqpURL: amqpURL, database: database, fleet: fleet, journal: journal, brokerHolder: brokerHolder,
                ingressPort: ingressPort, tripayURL: tripayURL, digitalOceanURL: digitalOceanURL, telegramURL: telegramURL,
                sinkPort: sink.port, doToken: doToken)
        } catch {
            await Self.tearDown(
                profile, fleet: fleet, broker: brokerHolder, simulators: [tripay, digitalOcean, telegram, sink.0], vhost: vhost,
                database: database)
            throw error
        }
        await Self.tearDown(
            profile, fleet: fleet, broker: brokerHolder, simulators: [tripay, digitalOcean, telegram, sink.0], vhost: vhost,
            database: database)
    }

    /// Holds the suite's own broker client so a failed run can still close it.
    actor BrokerHolder {
        var client: BrokerClient?
        func set(_ client: BrokerClient) { self.client = client }
    }

    static func tearDown(
        _ profile: Scenario, fleet: Fleet, broker: BrokerHolder, simulators: [ChildProcess], vhost: ScratchVhost?, database: ScratchDatabase
    ) async {
        await broker.client?.close()
        await fleet.stopAll()
        for process in simulators { process.signal(SIGKILL) }
        await vhost?.remove()
        if profile.cluster { _ = try? await cluster("down") }
        await database.drop()
    }

    static func exercise(
        _ profile: Scenario, amqpURL: String, database: ScratchDatabase, fleet: Fleet, journal: Journal, brokerHolder: BrokerHolder,
        ingressPort: Int, tripayURL: String, digitalOceanURL: String, telegramURL: String, sinkPort: Int, doToken: String
    ) async throws {
        let common = ["DATABASE_URL": database.url, "ARMADA_LOG_LEVEL": "notice"]
        try await fleet.start("armada-ingress", httpPort: ingressPort, extra: common)
        for _ in 0..<2 {
            try await fleet.start(
                "armada-payments",
                extra: common.merging([
                    "TRIPAY_API_URL": tripayURL, "ARMADA_RECONCILE_INTERVAL_SECONDS": "2", "ARMADA_RECONCILE_AFTER_SECONDS": "5",
                    // The simulator answers in milliseconds (2 s when slowed): a lost create's
                    // retry need not wait production's 2 minutes to adopt what it made.
                    "ARMADA_DEPOSIT_CREATE_LEASE_SECONDS": "15",
                ]) { $1 })
            try await fleet.start(
                "armada-provisioner",
                extra: common.merging([
                    "DIGITALOCEAN_API_URL": digitalOceanURL, "ARMADA_DROPLET_POLL_SECONDS": "1",
                    "ARMADA_DROPLET_ACTIVE_TIMEOUT_SECONDS": "30",
                    "ARMADA_AMBIGUOUS_CREATE_QUIET_SECONDS": "8", "DIGITALOCEAN_REQUESTS_PER_MINUTE": "250",
                    "DIGITALOCEAN_RATE_WINDOW_SECONDS": "6",
                ]) { $1 })
        }
        try await fleet.start("armada-lifecycle", extra: common.merging(["ARMADA_LIFECYCLE_SCHEDULER": "off"]) { $1 })
        try await fleet.start(
            "armada-notifier", extra: common.merging(notifierEnvironment(telegram: telegramURL, smtpPort: sinkPort)) { $1 })
        let base = "http://127.0.0.1:\(ingressPort)"
        #expect(await waitForHTTP(base + "/ready"), "the fleet came up")

        // The customers, all at once; the faults meanwhile.
        // Long enough for a message that failed three times to wait out its 300 s delay tier.
        let loadDeadline = ContinuousClock.now + .seconds(profile.chaosSeconds + 360)
        let chaosEnd = ContinuousClock.now + .seconds(profile.chaosSeconds)
        let broker = try await brokerClient(amqpURL)
        await brokerHolder.set(broker)
        async let chaos: Void = {
            var next = ContinuousClock.now
            var nextTick = ContinuousClock.now + .seconds(5)
            var ticks = 0
            var step = 0
            let schedule = profile.schedule
            let started = ContinuousClock.now
            var faults: [Task<Void, Never>] = []
            while ContinuousClock.now < chaosEnd {
                let elapsed = (ContinuousClock.now - started) / .seconds(profile.chaosSeconds)
                while step < schedule.count, schedule[step].0 <= elapsed {
                    let name = schedule[step].1
                    step += 1
                    // Faults run one after another in their own tasks, beside the kills and ticks,
                    // which go on while the broker restarts.
                    let previous = faults.last
                    faults.append(
                        Task {
                            await previous?.value
                            await Self.inject(
                                name, tripay: tripayURL, digitalOcean: digitalOceanURL, telegram: telegramURL, journal: journal)
                        })
                }
                if ContinuousClock.now >= nextTick {
                    // Lifecycle ticks moving time on, 25 and 31 days in turn: reminders, then
                    // renewals (and expiries racing them) for every order up by then.
                    nextTick = ContinuousClock.now + .seconds(5)
                    ticks += 1
                    await Self.tick(days: ticks % 2 == 0 ? 31 : 25, broker: broker, journal: journal, attempts: 3)
                }
                if profile.killEverySeconds > 0, ContinuousClock.now >= next {
                    next = ContinuousClock.now + .milliseconds(Int(profile.killEverySeconds * 1000))
                    let count = await fleet.members.count
                    if let killed = try? await fleet.kill(Int.random(in: 0..<count)) { await journal.fault("SIGKILL \(killed)") }
                }
                try? await fleet.reviveExited()
                try? await Task.sleep(for: .milliseconds(200))
            }
            for fault in faults { await fault.value }
        }()
        let failures = await withTaskGroup(of: String?.self) { group in
            for index in 0..<profile.customers {
                group.addTask {
                    do {
                        // Arrivals spread over the first 80 % of the faults, so every fault meets flows in flight.
                        let arrival = Double(index) / Double(profile.customers) * 0.8 * Double(profile.chaosSeconds)
                        try await Task.sleep(for: .milliseconds(Int(arrival * 1000)))
                        try await Self.customer(index, base: base, tripay: tripayURL, journal: journal, deadline: loadDeadline)
                        return nil
                    } catch {
                        return "\(error)"
                    }
                }
            }
            var failures: [String] = []
            for await failure in group { if let failure { failures.append(failure) } }
            return failures
        }
        await chaos
        try? await fleet.reviveExited()
        // Orders that came up after the last tick of the faults get theirs now.
        await Self.tick(days: 25, broker: broker, journal: journal, attempts: 30)
        await Self.tick(days: 31, broker: broker, journal: journal, attempts: 30)
        #expect(failures.isEmpty, "customer flows: \(failures.joined(separator: "\n"))")

        // Drained: no command pending, no delivery queued, no order in flight, the outbox empty,
        // every work queue and delay tier empty.
        let pool = database.pool
        // Every queue of the topology, work, delay tiers and dead letters, by message count.
        let queueNames = try Topology.bundled().queueShapes().map(\.name)
        func queueCounts() async throws -> [String: Int] {
            var counts: [String: Int] = [:]
            for name in queueNames { counts[name] = Int(try await broker.queueStatus(name).messages) }
            return counts
        }
        func count(_ sql: String) async -> Int {
            (try? await pool.withConnection { try $0.query(sql).first?.decode("n", as: Int.self) }) ?? -1
        }
        // Quiet for 5 s in a row: a queue's count leaves out messages a consumer holds, so one
        // empty look could fall between a delivery and what it sets off.
        var quietSince: ContinuousClock.Instant?
        let drained = await eventually(timeout: .seconds(360), every: .seconds(1)) {
            let quiet = await isQuiet()
            if !quiet { quietSince = nil } else if quietSince == nil { quietSince = .now }
            return quietSince.map { ContinuousClock.now - $0 >= .seconds(5) } ?? false
        }
        func isQuiet() async -> Bool {
            try? await fleet.reviveExited()
            let inFlight = await count(
                """
                SELECT ((SELECT count(*) FROM commands WHERE status = 'pending')
                      + (SELECT count(*) FROM notification_deliveries WHERE status = 'queued')
                      + (SELECT count(*) FROM orders WHERE status IN ('PROCESSING', 'PROVISIONING'))
                      + (SELECT count(*) FROM outbox WHERE published_at IS NULL))::int AS n
                """)
            guard inFlight == 0, let queues = try? await queueCounts() else { return false }
            return queues.allSatisfy { $0.value == 0 || $0.key.hasSuffix(".dead") }
        }
        let leftover = [
            "pending commands": await count("SELECT count(*)::int AS n FROM commands WHERE status = 'pending'"),
            "orders in flight": await count("SELECT count(*)::int AS n FROM orders WHERE status IN ('PROCESSING', 'PROVISIONING')"),
            "unpublished outbox rows": await count("SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL"),
        ]
        let holding = (try? await queueCounts())?.filter { $0.value > 0 } ?? [:]
        #expect(drained, "the load drained (\(leftover); queues: \(holding))")
        #expect(
            await count("SELECT count(*)::int AS n FROM notification_deliveries WHERE status = 'queued'") == 0, "deliveries still queued")
        let queues = try await queueCounts()
        let residue = queues.filter { $0.value > 0 && !$0.key.hasSuffix(".dead") }
        #expect(residue.isEmpty, "work left in queues: \(residue)")
        let deadLetters = queues.filter { $0.key.hasSuffix(".dead") }.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
        // Every fault here is one Armada recovers from: a dead letter would be a message it gave up on.
        #expect(queues.filter { $0.key.hasSuffix(".dead") }.allSatisfy { $0.value == 0 }, "dead letters: \(deadLetters)")

        // The audit, as an operator runs it.
        let audit = try await ChildProcess.run(
            TestEnvironment.binDirectory.appendingPathComponent("armadactl").path, ["audit", "--settle-minutes", "0"],
            environment: ["DATABASE_URL": database.url])
        #expect(audit.status == 0, "\(audit.output)")

        // Beyond the books: every command the API accepted is recorded and settled; every deposit
        // paid at Tripay is PAID here; every droplet at DigitalOcean belongs to exactly one order.
        let accepted = Set(await journal.accepted)
        let settled = await count(
            "SELECT count(*)::int AS n FROM commands WHERE status IN ('succeeded', 'failed') AND id::text = ANY(ARRAY['\(accepted.joined(separator: "','"))'])"
        )
        #expect(settled == accepted.count, "accepted \(accepted.count), recorded and settled \(settled)")
        let paid = await journal.paidReferences
        let paidHere = await count(
            "SELECT count(*)::int AS n FROM deposits WHERE status = 'PAID' AND reference = ANY(ARRAY['\(paid.joined(separator: "','"))'])")
        #expect(paidHere == paid.count, "paid at Tripay \(paid.count), PAID here \(paidHere)")
        let droplets = (try await CurlClient().send(HTTPRequest(url: digitalOceanURL + "/_sim/droplets")))
        let atDigitalOcean = Set(((FaultLoadTests.json(droplets)["droplets"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? Int })
        // Live orders own exactly the droplets DigitalOcean has; a failed or terminated order's
        // droplet is gone (DOMAIN.md: a failure deletes any droplet it created).
        func dropletIds(_ statuses: String) async throws -> [Int] {
            try await pool.withConnection {
                try $0.query("SELECT droplet_id FROM orders WHERE droplet_id IS NOT NULL AND status IN (\(statuses))").map {
                    Int(try $0.decode("droplet_id", as: Int64.self))
                }
            }
        }
        let owned = try await dropletIds("'ACTIVE', 'EXPIRING_SOON', 'SUSPENDED'")
        let gone = try await dropletIds("'FAILED', 'TERMINATED'")
        #expect(
            Set(owned) == atDigitalOcean && owned.count == Set(owned).count,
            "orphans at DigitalOcean: \(atDigitalOcean.subtracting(owned)); lost: \(Set(owned).subtracting(atDigitalOcean))")
        #expect(atDigitalOcean.isDisjoint(with: gone), "droplets of failed or terminated orders still at DigitalOcean")

        let unexpected = await fleet.unexpectedExits
        #expect(unexpected.isEmpty, "processes that died of a fault they should have survived:\n\(unexpected.joined(separator: "\n"))")

        // The report.
        let orders = try await pool.withConnection {
            try $0.query("SELECT status, count(*)::int AS n FROM orders GROUP BY status ORDER BY status").map {
                "\(try $0.decode("status", as: String.self)) \(try $0.decode("n", as: Int.self))"
            }
        }
        let ledger = try await pool.withConnection {
            try $0.query("SELECT reference_type, count(*)::int AS n FROM ledger_entries GROUP BY 1 ORDER BY 1").map {
                "\(try $0.decode("reference_type", as: String.self)) \(try $0.decode("n", as: Int.self))"
            }
        }
        let deliveries = try await pool.withConnection {
            try $0.query("SELECT channel || ' ' || status AS s, count(*)::int AS n FROM notification_deliveries GROUP BY 1 ORDER BY 1").map
            {
                "\(try $0.decode("s", as: String.self)) \(try $0.decode("n", as: Int.self))"
            }
        }
        let kills = await fleet.kills.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }
        let report = """
            ## \(profile.name) (\(Self.full ? "full" : "ci") profile)

            Load: \(profile.customers) customers arriving over the first 80 % of the faults, each: contact details, a top-up of Rp 120.000 paid at the Tripay simulator, \
            a monthly order of the basic plan, followed until it is up; \(await journal.ticks) lifecycle ticks moving time 25 and 31 days on in turn; every \
            notification by email and Telegram. \(await journal.requests) HTTP requests, \(await journal.refusedTransiently) of them \
            answered with a connection error, a 5xx or a 429 and retried with the same Idempotency-Key; \(accepted.count) commands accepted.

            Broker: \(profile.cluster ? "a three-node RabbitMQ cluster (quorum queues), every process given all three nodes" : "the local stack's RabbitMQ"). \
            Faults over \(profile.chaosSeconds) s: \(kills.reduce(0) { $0 + Int($1.split(separator: "×").last!)! }) SIGKILLs \
            (\(kills.joined(separator: ", "))), and:

            ```
            \(await journal.faults.joined(separator: "\n"))
            ```

            Result:
            - customer flows that did not finish: \(failures.count); processes that died on their own: \(unexpected.count)
            - outcomes: \(await journal.outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            - orders: \(orders.joined(separator: ", ")); droplets at DigitalOcean \(atDigitalOcean.count), owned by orders \(owned.count)
            - ledger entries: \(ledger.joined(separator: ", "))
            - deliveries: \(deliveries.joined(separator: ", "))
            - commands accepted \(accepted.count), settled \(settled); deposits paid at Tripay \(paid.count), PAID here \(paidHere)
            - work queues and delay tiers left holding messages: \(residue.count); dead letters: \(deadLetters.joined(separator: ", "))

            `armadactl audit --settle-minutes 0` (exit \(audit.status)):

            ```
            \(audit.output.trimmingCharacters(in: .whitespacesAndNewlines))
            ```
            """
        let artifacts = TestEnvironment.repositoryRoot.appendingPathComponent(".local/test-artifacts")
        try? FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        try report.write(to: artifacts.appendingPathComponent("fault-report-\(profile.name).md"), atomically: true, encoding: .utf8)
        print(report)

    }
}
