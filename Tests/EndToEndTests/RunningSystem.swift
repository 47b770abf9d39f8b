import AMQP
import ArmadaTestSupport
import Curl
import Foundation
import Glibc
import Logging
import OrdersContracts
import Postgres
import Tripay
import WalletContracts

@testable import Provisioning
@testable import Wallet

let testTripayKey = "test-fake-tripay-private-key"
let testTripayAPIKey = "DEV-test-fake-tripay-api-key"
let testJWTSecret = "test-fake-jwt-secret-for-hs256-at-least-32-bytes"
/// A development key (not a secret): 64 hex digits.
let testEncryptionKey = String(repeating: "5e", count: 32)
/// A fake bot token in Telegram's shape (digits, a colon, letters).
let testBotToken = "424242:test-fake-telegram-bot-token"

/// The notifier's settings against a Telegram simulator and an SMTP sink.
func notifierEnvironment(telegram: String, smtpPort: Int) -> [String: String] {
    [
        "TELEGRAM_API_URL": telegram, "TELEGRAM_BOT_TOKEN": testBotToken, "SMTP_URL": "smtp://127.0.0.1:\(smtpPort)",
        "SMTP_FROM": "billing@armada.test",
        "ARMADA_TEMPLATES_DIR": TestEnvironment.repositoryRoot.appendingPathComponent(
            "Templates/notifications"
        ).path, "ARMADA_DELIVERY_CLAIM_SECONDS": "60",
    ]
}

/// Starts an Armada executable from the build folder against the test stack.
func launch(_ name: String, amqpURL: String = TestEnvironment.amqpURL, httpPort: Int = freePort(), extra: [String: String] = [:]) throws
    -> (ChildProcess, httpPort: Int, metricsPort: Int)
{
    let metricsPort = freePort()
    var environment = [
        "DATABASE_URL": TestEnvironment.databaseURL, "AMQP_URL": amqpURL, "TRIPAY_PRIVATE_KEY": testTripayKey,
        "ARMADA_HTTP_PORT": "\(httpPort)", "ARMADA_METRICS_PORT": "\(metricsPort)", "ARMADA_LOG_LEVEL": "info",
        "ARMADA_JWT_SECRET": testJWTSecret, "TRIPAY_API_KEY": testTripayAPIKey, "TRIPAY_MERCHANT_CODE": "T0001",
        "TRIPAY_API_URL": "http://127.0.0.1:1", "ARMADA_ENCRYPTION_KEY": testEncryptionKey,
        // Every suite polls one shared ingress from 127.0.0.1; the limits have a test of their own.
        "ARMADA_RATE_LIMIT_PER_IP": "off", "ARMADA_RATE_LIMIT_PER_CUSTOMER": "off",
    ]
    for (key, value) in extra { environment[key] = value }
    let log = NSTemporaryDirectory() + "armada-e2e-\(name)-\(UUID().uuidString.prefix(6)).log"
    let process = try ChildProcess(TestEnvironment.binDirectory.appendingPathComponent(name).path, environment: environment, logPath: log)
    return (process, httpPort, metricsPort)
}

/// `launch`, then waits until the process answers `GET /health` (the ingress on its HTTP port, a
/// worker on its metrics port); when it died because a port was taken between `freePort()` and
/// its bind, it is launched again on fresh ports (up to 3 times). Other failures are left to the
/// caller's own readiness checks, with the process's log.
func launchListening(_ name: String, amqpURL: String = TestEnvironment.amqpURL, extra: [String: String] = [:]) async throws
    -> (ChildProcess, httpPort: Int, metricsPort: Int)
{
    var launched = try launch(name, amqpURL: amqpURL, extra: extra)
    for _ in 1..<3 {
        let (process, http, metrics) = launched
        let port = name == "armada-ingress" ? http : metrics
        _ = await eventually(timeout: .seconds(30), every: .milliseconds(100)) {
            guard process.isRunning else { return true }
            return (try? await CurlClient().send(HTTPRequest(url: "http://127.0.0.1:\(port)/health", timeout: 2)))?.status == 200
        }
        guard !process.isRunning, process.log.contains("Address already in use") else { return launched }
        launched = try launch(name, amqpURL: amqpURL, extra: extra)
    }
    return launched
}

/// Waits until `url` answers 200.
func waitForHTTP(_ url: String, timeout: Duration = .seconds(30)) async -> Bool {
    await eventually(timeout: timeout, every: .milliseconds(100)) {
        (try? await CurlClient().send(HTTPRequest(url: url, timeout: 2)))?.status == 200
    }
}

/// The Tripay simulator, one ingress and one payments worker, started once for the end-to-end
/// suites and left running (the test script stops them).
actor RunningSystem {
    static let shared = RunningSystem()
    private var starting: Task<String, Error>?
    private(set) var simulatorURL = ""
    private(set) var digitalOceanURL = ""
    /// DigitalOcean's 250-a-minute burst limit with time compressed tenfold: 250 calls per 6 s, at
    /// the simulator and in the provisioner's pacing alike.
    let rateWindow = 6
    /// The token of the account every e2e order goes to.
    let primaryDigitalOceanToken = "test-fake-do-token-" + UUID().uuidString.lowercased()
    /// A second token the simulator accepts, for a test that adds an account through the admin API.
    let spareDigitalOceanToken = "test-fake-do-spare-" + UUID().uuidString.lowercased()
    /// The DigitalOcean account every e2e order goes to (one per run; earlier runs' are deactivated).
    private(set) var accountId = UUID()
    /// The Telegram simulator and the SMTP sink the shared notifier sends to.
    private(set) var telegramURL = ""
    private(set) var maildir = ""
    private var processes: [ChildProcess] = []

    /// Starts the system once; concurrent callers wait for the same start (actors are reentrant).
    func baseURL() async throws -> String {
        if let starting { return try await starting.value }
        let task = Task { try await self.start() }
        starting = task
        return try await task.value
    }

    private func start() async throws -> String {
        // The ingress first: the simulator's callbacks go to the port it actually listens on.
        let (ingress, port, _) = try await launchListening("armada-ingress")
        let (simulator, simulatorBase) = try await Peers.tripaySimulator(
            apiKey: testTripayAPIKey, privateKey: testTripayKey, callbackURL: "http://127.0.0.1:\(port)/api/v1/webhooks/tripay",
            callbackIntervalSeconds: 1)
        simulatorURL = simulatorBase
        let (payments, _, paymentsMetrics) = try await launchListening(
            "armada-payments",
            extra: [
                "TRIPAY_API_URL": simulatorBase, "ARMADA_RECONCILE_INTERVAL_SECONDS": "1", "ARMADA_RECONCILE_AFTER_SECONDS": "1",
                "ARMADA_DEPOSIT_EXPIRY_GRACE_SECONDS": "1",
            ])
        let token = primaryDigitalOceanToken
        let (digitalOcean, digitalOceanBase) = try await Peers.digitalOceanSimulator(
            tokens: [token, spareDigitalOceanToken], dropletLimit: 1000, perMinute: 250, rateWindowSeconds: Double(rateWindow))
        digitalOceanURL = digitalOceanBase
        try await seedAccount(token: token)
        let (provisioner, _, provisionerMetrics) = try await launchListening(
            "armada-provisioner",
            extra: [
                "DIGITALOCEAN_API_URL": digitalOceanBase, "ARMADA_ENCRYPTION_KEY": testEncryptionKey, "ARMADA_DROPLET_POLL_SECONDS": "1",
                "ARMADA_DROPLET_ACTIVE_TIMEOUT_SECONDS": "20", "ARMADA_AMBIGUOUS_CREATE_QUIET_SECONDS": "12",
                "DIGITALOCEAN_REQUESTS_PER_MINUTE": "250", "DIGITALOCEAN_RATE_WINDOW_SECONDS": "\(rateWindow)",
            ])
        // Time moves through ticks the tests publish: no scheduler of its own.
        let (lifecycle, _, lifecycleMetrics) = try await launchListening("armada-lifecycle", extra: ["ARMADA_LIFECYCLE_SCHEDULER": "off"])
        let (telegram, telegramBase) = try await Peers.telegramSimulator(token: testBotToken)
        let sink = try await Peers.armadaSMTPSink()
        telegramURL = telegramBase
        maildir = sink.maildir
        let (notifier, _, notifierMetrics) = try await launchListening(
            "armada-notifier", extra: notifierEnvironment(telegram: telegramBase, smtpPort: sink.port))
        processes = [simulator, payments, ingress, digitalOcean, provisioner, lifecycle, telegram, sink.0, notifier]
        guard await waitForHTTP("http://127.0.0.1:\(notifierMetrics)/health") else {
            throw TestFailure("notifier did not become ready:\n\(notifier.log)")
        }
        guard await waitForHTTP("http://127.0.0.1:\(lifecycleMetrics)/health") else {
            throw TestFailure("lifecycle worker did not become ready:\n\(lifecycle.log)")
        }
        let url = "http://127.0.0.1:\(port)"
        guard await waitForHTTP(url + "/ready"), await waitForHTTP("http://127.0.0.1:\(paymentsMetrics)/health"),
            await waitForHTTP("http://127.0.0.1:\(provisionerMetrics)/health")
        else {
            throw TestFailure("system did not become ready:\n\(ingress.log)\n\(payments.log)\n\(provisioner.log)")
        }
        return url
    }

    /// Deactivates the accounts earlier runs left (their simulator is gone) and adds this run's,
    /// with room for every order the suites place.
    private func seedAccount(token: String) async throws {
        let sealer = try TokenSealer(hexKey: testEncryptionKey)
        let sealed = try sealer.seal(token)
        let id = accountId
        let pool = TestDatabase.pool(size: 1, name: "e2e-seed")
        try await pool.transaction { connection in
            try connection.execute("UPDATE do_accounts SET active = false, is_primary = false")
            _ = try DOAccounts.insert(
                id: id, name: "e2e-\(id.uuidString.prefix(8))", sealedToken: sealed, fingerprint: TokenSealer.fingerprint(token),
                dropletLimit: 1000, isPrimary: true, on: connection)
        }
    }

    /// What each Armada process (not the simulators) logged so far, by executable.
    func armadaLogs() -> [String: String] {
        guard processes.count > 8 else { return [:] }
        return [
            "armada-payments": processes[1].log, "armada-ingress": processes[2].log, "armada-provisioner": processes[4].log,
            "armada-lifecycle": processes[5].log, "armada-notifier": processes[8].log,
        ]
    }

    /// Whether each Armada process is still running, by executable.
    func armadaProcessesRunning() -> [String: Bool] {
        guard processes.count > 8 else { return [:] }
        return [
            "armada-payments": processes[1].isRunning, "armada-ingress": processes[2].isRunning,
            "armada-provisioner": processes[4].isRunning, "armada-lifecycle": processes[5].isRunning,
            "armada-notifier": processes[8].isRunning,
        ]
    }

    /// Everything the shared notifier and the Telegram simulator logged so far.
    func notifierLogs() -> String {
        processes.count > 8 ? processes[8].log + processes[6].log : ""
    }

    /// How many times the payments worker logged `message` for the message with this id: a
    /// condition to wait for (a repeat was handled as a duplicate), never a sleep.
    func paymentsLogCount(_ message: String, messageId: UUID) -> Int {
        guard processes.count > 1 else { return 0 }
        let id = "\"message_id\":\"\(messageId.uuidString.lowercased())\""
        return processes[1].log.split(separator: "\n").filter { $0.contains(id) && $0.contains("\"msg\":\"\(message)") }.count
    }
}

/// A Tripay callback body and its signature.
func signedCallback(
    reference: String, status: String = "PAID", total: Int64 = 154_250, received: Int64 = 150_000, key: String = testTripayKey
) -> (body: [UInt8], signature: String) {
    let body = Array(
        #"{"reference":"\#(reference)","merchant_ref":"DEP-X","payment_method":"BRI Virtual Account","payment_method_code":"BRIVA","total_amount":\#(total),"fee_merchant":0,"fee_customer":4250,"total_fee":4250,"amount_received":\#(received),"is_closed_payment":1,"status":"\#(status)","paid_at":1764058530,"note":null}"#
            .utf8)
    return (body, TripaySignature.callback(body: body, privateKey: key))
}

func postCallback(_ base: String, body: [UInt8], signature: String?, event: String? = "payment_status") async throws -> HTTPResponse {
    var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
    if let signature { headers.append(("X-Callback-Signature", signature)) }
    if let event { headers.append(("X-Callback-Event", event)) }
    return try await CurlClient().send(HTTPRequest(method: "POST", url: base + "/api/v1/webhooks/tripay", headers: headers, body: body))
}

func json(_ response: HTTPResponse) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
}

func errorCode(_ response: HTTPResponse) -> String? {
    (json(response)["error"] as? [String: Any])?["code"] as? String
}

/// A PENDING deposit of 150,000 + 4,250 fee for a new customer; returns (customer, reference).
func pendingDeposit(_ pool: PostgresPool) async throws -> (customer: String, reference: String) {
    let customer = TestEnvironment.unique("cust")
    let reference = "T0001" + UUID().uuidString.prefix(12).uppercased()
    _ = try await pool.transaction {
        try Deposits.insert(
            NewDeposit(
                id: UUID(), customerId: customer, amount: 150_000, fee: 4_250, method: "BRIVA", reference: reference,
                expiresAt: Date().addingTimeInterval(86_400)),
            on: $0)
    }
    return (customer, reference)
}

func balance(_ customer: String, _ pool: PostgresPool) async throws -> Int64 {
    try await pool.withConnection { try Ledger.balance(of: customer, on: $0) }
}

func ledgerCount(_ customer: String, _ pool: PostgresPool) async throws -> Int {
    try await pool.withConnection {
        try $0.query("SELECT count(*)::int AS n FROM ledger_entries WHERE customer_id = $1", customer).first!.decode("n")
    }
}

func brokerClient(_ url: String) async throws -> BrokerClient {
    var logger = Logger(label: "test.e2e")
    logger.logLevel = .critical
    let client = BrokerClient(configuration: try AMQPConfiguration(url: url), logger: logger)
    client.start()
    try await client.waitUntilConnected()
    return client
}
