import AMQP
import ArmadaTestSupport
import Curl
import Foundation
import Glibc
import Messaging
import Notifications
import NotificationsContracts
import Testing
import WalletContracts

/// A notifier of its own on the isolated vhost, for the tests that stop its SMTP server or kill it.
@Suite("Notifier processes on an isolated vhost", .serialized)
struct NotifierIsolatedProcessTests {
    let pool = TestDatabase.pool(size: 2, name: "e2e-notifier-isolated")
    let amqpURL = TestEnvironment.isolatedAMQPURL

    func startNotifier(telegram: String, smtpPort: Int, extra: [String: String] = [:]) async throws -> ChildProcess {
        var environment = notifierEnvironment(telegram: telegram, smtpPort: smtpPort)
        for (key, value) in extra { environment[key] = value }
        let (notifier, _, metrics) = try launch("armada-notifier", amqpURL: amqpURL, extra: environment)
        guard await waitForHTTP("http://127.0.0.1:\(metrics)/health") else { throw TestFailure("notifier did not start:\n\(notifier.log)") }
        return notifier
    }

    @Test("the SMTP server down: the email is retried and delivered, once, when it is back")
    func smtpDownThenBack() async throws {
        let (telegram, telegramURL) = try await Peers.telegramSimulator(token: testBotToken)
        defer { telegram.signal(SIGKILL) }
        let smtpPort = freePort()  // nothing listens here yet
        let notifier = try await startNotifier(telegram: telegramURL, smtpPort: smtpPort)
        defer { notifier.signal(SIGKILL) }
        let probe = NotificationProbe(pool: pool, telegram: telegramURL)
        let broker = try await brokerClient(amqpURL)
        let customer = TestEnvironment.unique("cust")
        let email = "\(customer)@example.test"
        try await setContact(pool, customer, email: email)
        let id = try await publishDepositPaid(customer, broker: broker)

        var first: NotificationProbe.Delivery?
        _ = try await eventually(timeout: .seconds(30)) {
            first = try await probe.delivery(id, .email)
            return (first?.attempts ?? 0) >= 1
        }
        #expect(first?.status == "queued", "a refused connection is transient")
        #expect(first?.error != nil)

        let sink = try await Peers.armadaSMTPSink(port: smtpPort)
        defer { sink.0.signal(SIGTERM) }
        let sent = try await probe.await(id, .email, status: "sent", timeout: .seconds(60))
        #expect(sent != nil && (sent?.attempts ?? 0) >= 2)
        #expect(Peers.sinkMessages(sink.maildir).filter { $0.contains("X-Sink-Envelope-To: <\(email)>") }.count == 1)
    }

    @Test("a notifier killed after recording a Telegram send, before its ack: the redelivery sends nothing more")
    func killedAfterRecordingSent() async throws {
        let (telegram, telegramURL) = try await Peers.telegramSimulator(token: testBotToken)
        defer { telegram.signal(SIGKILL) }
        let sink = try await Peers.armadaSMTPSink()
        defer { sink.0.signal(SIGTERM) }
        let crashing = try await startNotifier(
            telegram: telegramURL, smtpPort: sink.port, extra: ["ARMADA_FAULT_CRASH_AFTER_COMMIT": SendTelegram.messageType])
        defer { crashing.signal(SIGKILL) }
        let probe = NotificationProbe(pool: pool, telegram: telegramURL)
        let broker = try await brokerClient(amqpURL)
        let customer = TestEnvironment.unique("cust")
        let chat = uniqueChat()
        try await setContact(pool, customer, chat: chat)
        let id = try await publishDepositPaid(customer, broker: broker)

        #expect(await eventually(timeout: .seconds(30)) { !crashing.isRunning }, "the fault stopped the notifier after its commit")
        let sent = try await probe.await(id, .telegram, status: "sent")
        #expect(sent?.attempts == 1)

        let restarted = try await startNotifier(telegram: telegramURL, smtpPort: sink.port)
        defer { restarted.signal(SIGKILL) }
        let sendId = MessageID.derive(
            "send", MessageID.derive("notification-delivery", id.uuidString.lowercased(), "telegram").uuidString.lowercased())
        let marker = "\"message_id\":\"\(sendId.uuidString.lowercased())\""
        #expect(
            await eventually(timeout: .seconds(30)) {
                restarted.log.split(separator: "\n").contains { $0.contains(marker) && $0.contains("already processed") }
            }, "the redelivered send was taken as already done")
        #expect(try await probe.received(chat: chat).accepted.count == 1, "one message at Telegram")
    }

    @Test("an event left in both old channel queues is forwarded to armada.notifications and notified once")
    func leftoverEventsForwarded() async throws {
        let (telegram, telegramURL) = try await Peers.telegramSimulator(token: testBotToken)
        defer { telegram.signal(SIGKILL) }
        let sink = try await Peers.armadaSMTPSink()
        defer { sink.0.signal(SIGTERM) }
        let customer = TestEnvironment.unique("cust")
        let email = "\(customer)@example.test"
        try await setContact(pool, customer, email: email)
        let broker = try await brokerClient(amqpURL)
        // As the old topology left it: the event waiting in each channel queue.
        let id = UUID()
        let event = Envelope(
            id: id,
            data: DepositPaid(
                customerId: customer, depositId: UUID(), reference: "T0001LEFT", amount: 20_000, bonus: 0, balanceAfter: 20_000),
            occurredAt: Date())
        for queue in ["armada.email", "armada.telegram"] {
            try await broker.publish(
                exchange: "", routingKey: queue, properties: .armada(messageId: id, type: DepositPaid.messageType, correlationId: nil),
                body: try event.encoded())
        }
        let notifier = try await startNotifier(telegram: telegramURL, smtpPort: sink.port)
        defer { notifier.signal(SIGKILL) }
        let probe = NotificationProbe(pool: pool, telegram: telegramURL)
        #expect(try await probe.await(id, .email, status: "sent") != nil)
        #expect(
            await eventually(timeout: .seconds(20)) {
                notifier.log.split(separator: "\n").filter { $0.contains("forwarded a message this queue no longer handles") }.count == 2
            }, "both copies forwarded")
        let recorded = try await pool.withConnection {
            try $0.query("SELECT count(*)::int AS n FROM notifications WHERE id = $1", id).first!.decode("n", as: Int.self)
        }
        #expect(recorded == 1)
        #expect(Peers.sinkMessages(sink.maildir).filter { $0.contains("X-Sink-Envelope-To: <\(email)>") }.count == 1)
        // Nothing dead-lettered from the channel queues.
        #expect(try await broker.queueStatus("armada.email.dead").messages == 0)
        #expect(try await broker.queueStatus("armada.telegram.dead").messages == 0)
    }
}
