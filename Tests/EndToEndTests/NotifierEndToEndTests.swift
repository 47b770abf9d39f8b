import AMQP
import ArmadaTestSupport
import Curl
import Foundation
import Messaging
import NotificationsContracts
import OrdersContracts
import Postgres
import Testing
import WalletContracts

/// What a test needs of the notifications in the database and at the Telegram simulator.
struct NotificationProbe {
    let pool: PostgresPool
    let telegram: String

    struct Delivery {
        var status: String
        var attempts: Int
        var error: String?
        var sentAt: Date?
        var providerId: String?
    }

    func delivery(_ notification: UUID, _ channel: DeliveryChannel) async throws -> Delivery? {
        try await pool.withConnection { connection in
            try connection.query(
                """
                SELECT status, attempts, last_error, sent_at, provider_id FROM notification_deliveries
                WHERE notification_id = $1 AND channel = $2
                """, notification, channel.rawValue
            ).first.map {
                Delivery(
                    status: try $0.decode("status"), attempts: try $0.decode("attempts"), error: try $0.decode("last_error"),
                    sentAt: try $0.decode("sent_at"), providerId: try $0.decode("provider_id"))
            }
        }
    }

    /// Waits until the delivery is in `status`; returns it.
    func await(_ notification: UUID, _ channel: DeliveryChannel, status: String, timeout: Duration = .seconds(30)) async throws
        -> Delivery?
    {
        var last: Delivery?
        _ = try await eventually(timeout: timeout, every: .milliseconds(100)) {
            last = try await delivery(notification, channel)
            return last?.status == status
        }
        return last
    }

    struct Received {
        var accepted: [(text: String, at: Int64)]
        var rejected: [(status: Int, at: Int64, chat: String?)]
    }

    /// What the simulator received for `chat` (or for every chat).
    func received(chat: String? = nil) async throws -> Received {
        let query = chat.map { "?chat_id=\($0)" } ?? ""
        let response = try await CurlClient().send(HTTPRequest(url: telegram + "/_sim/messages" + query))
        let object = json(response)
        let accepted = (object["messages"] as? [[String: Any]] ?? []).map {
            (text: $0["text"] as? String ?? "", at: ($0["receivedAtMs"] as? NSNumber)?.int64Value ?? 0)
        }
        let rejected = (object["rejected"] as? [[String: Any]] ?? []).map {
            (
                status: ($0["status"] as? NSNumber)?.intValue ?? 0, at: ($0["receivedAtMs"] as? NSNumber)?.int64Value ?? 0,
                chat: $0["chatId"] as? String
            )
        }
        return Received(accepted: accepted, rejected: rejected)
    }

    func fault(chat: String, kind: String, count: Int = 1, retryAfter: Int? = nil) async throws {
        var body = #"{"chatId":"\#(chat)","kind":"\#(kind)","count":\#(count)"#
        if let retryAfter { body += #","retryAfter":\#(retryAfter)"# }
        body += "}"
        let response = try await CurlClient().send(
            HTTPRequest(
                method: "POST", url: telegram + "/_sim/faults", headers: [("Content-Type", "application/json")], body: Array(body.utf8)))
        guard response.status == 200 else { throw TestFailure("fault not set: \(String(decoding: response.body, as: UTF8.self))") }
    }
}

/// A customer's contact details, written as the payments worker would.
func setContact(
    _ pool: PostgresPool, _ customer: String, email: String? = nil, chat: String? = nil, name: String? = nil, locale: String = "id"
) async throws {
    try await pool.withConnection { connection in
        try connection.execute(
            """
            INSERT INTO customers (customer_id, email, display_name, telegram_chat_id, locale) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (customer_id) DO UPDATE SET email = $2, display_name = $3, telegram_chat_id = $4, locale = $5
            """, customer, email, name, chat, locale)
    }
}

/// A chat id no other test uses.
func uniqueChat() -> String { String(Int64.random(in: 1_000_000_000...9_000_000_000)) }

/// A DEPOSIT_PAID event for `customer`, published as the payments worker's outbox would.
func publishDepositPaid(_ customer: String, amount: Int64 = 150_000, broker: BrokerClient, at: Date = Date()) async throws -> UUID {
    let id = UUID()
    try await broker.publish(
        Envelope(
            id: id,
            data: DepositPaid(
                customerId: customer, depositId: UUID(), reference: "T0001" + UUID().uuidString.prefix(8), amount: amount, bonus: 0,
                balanceAfter: amount), occurredAt: at))
    return id
}

/// Notifications through the shared running system: its notifier, Telegram simulator and SMTP sink.
@Suite("Notifications: events to email and Telegram through the running notifier")
struct NotifierEndToEndTests {
    let pool = TestDatabase.pool(size: 2, name: "e2e-notifier")

    func system() async throws -> (api: String, probe: NotificationProbe, maildir: String, broker: BrokerClient) {
        let base = try await RunningSystem.shared.baseURL()
        let probe = NotificationProbe(pool: pool, telegram: await RunningSystem.shared.telegramURL)
        return (base, probe, await RunningSystem.shared.maildir, try await brokerClient(TestEnvironment.amqpURL))
    }

    @Test("a paid deposit reaches the customer by email and Telegram once; GET /notifications shows both sent, to its owner only")
    func paidDepositBothChannels() async throws {
        let (base, probe, maildir, _) = try await system()
        let (customer, reference) = try await pendingDeposit(pool)
        let chat = uniqueChat()
        let email = "\(customer)@example.test"
        let api = APIClient(base: base, token: try await Tokens.make(customer: customer))
        let contact = try await api.send(
            "PUT", "/api/v1/me/contact", json: #"{"email":"\#(email)","name":"Budi <b>&","telegramChatId":"\#(chat)","locale":"en"}"#,
            idempotencyKey: UUID().uuidString)
        #expect(contact.status == 202)
        #expect(try await api.awaitCommand(json(contact)["commandId"] as? String ?? "")["status"] as? String == "succeeded")
        let shown = json(try await api.send("GET", "/api/v1/me/contact"))
        #expect(shown["email"] as? String == email && shown["timeZone"] as? String == "Asia/Jakarta")

        let (body, signature) = signedCallback(reference: reference)
        #expect(try await postCallback(base, body: body, signature: signature).status == 200)

        // The email: recipient, subject, both parts, a Message-ID.
        var message: String?
        _ = await eventually(timeout: .seconds(30)) {
            message = Peers.sinkMessages(maildir).first { $0.contains("X-Sink-Envelope-To: <\(email)>") }
            return message != nil
        }
        let mail = try #require(message, "the sink received the email")
        #expect(mail.contains("To: <\(email)>"))
        #expect(mail.contains("Subject: [Armada] "), "the English subject")
        #expect(mail.contains("multipart/alternative") && mail.contains("text/plain") && mail.contains("text/html"))
        let messageID = try #require(mail.split(separator: "\r\n").first { $0.hasPrefix("Message-ID: <") }, "a Message-ID")
        #expect(messageID.hasSuffix("@armada.test>"))

        // Telegram: one message to the chat, the name escaped, the amount formatted.
        var received = try await probe.received(chat: chat)
        _ = try await eventually(timeout: .seconds(30)) {
            received = try await probe.received(chat: chat)
            return received.accepted.count == 1
        }
        let text = try #require(received.accepted.first?.text)
        #expect(text.contains("Rp 150.000"))
        #expect(text.contains("Budi &lt;b&gt;&amp;"), "the customer's name is escaped for Telegram: \(text)")

        // GET /notifications: the item with both deliveries sent.
        var item: [String: Any] = [:]
        _ = try await eventually(timeout: .seconds(30)) {
            item = (json(try await api.send("GET", "/api/v1/notifications"))["items"] as? [[String: Any]])?.first ?? [:]
            return item["status"] as? String == "sent"
                && (item["deliveries"] as? [[String: Any]])?.allSatisfy { $0["status"] as? String == "sent" } == true
        }
        #expect(item["type"] as? String == "DEPOSIT_PAID")
        #expect((item["deliveries"] as? [[String: Any]])?.compactMap { $0["channel"] as? String }.sorted() == ["email", "telegram"])
        #expect((item["subject"] as? String)?.hasPrefix("[Armada]") == true)
        // Another customer sees none of it.
        let other = APIClient(base: base, token: try await Tokens.make(customer: TestEnvironment.unique("cust")))
        #expect((json(try await other.send("GET", "/api/v1/notifications"))["items"] as? [Any])?.isEmpty == true)
        // Exactly one email to this address.
        #expect(Peers.sinkMessages(maildir).filter { $0.contains("X-Sink-Envelope-To: <\(email)>") }.count == 1)
        // The bot token is part of Telegram's URL: no log line of the notifier or the simulator has it.
        let logs = await RunningSystem.shared.notifierLogs()
        #expect(!logs.isEmpty && !logs.contains(testBotToken) && !logs.contains("test-fake-telegram-bot-token"))
    }

    @Test("a customer with neither an email nor a chat gets the item, skipped, with no deliveries")
    func noChannels() async throws {
        let (_, probe, _, broker) = try await system()
        let customer = TestEnvironment.unique("cust")
        let id = try await publishDepositPaid(customer, broker: broker)
        var reason: String?
        _ = try await eventually(timeout: .seconds(20)) {
            reason = try await pool.withConnection {
                try $0.query("SELECT skip_reason FROM notifications WHERE id = $1", id).first?.decode("skip_reason", as: String?.self)
            }
            return reason != nil
        }
        #expect(reason?.contains("no email") == true)
        let email = try await probe.delivery(id, .email)
        let telegram = try await probe.delivery(id, .telegram)
        #expect(email == nil && telegram == nil)
        let views = try await pool.withConnection { try Notifications.views(customerId: customer, limit: 10, before: nil, on: $0) }
        #expect(views.count == 1 && views[0].status == .skipped && views[0].deliveries.isEmpty)
    }

    @Test("an event that happened long before the notifier first ran is recorded with its deliveries skipped, not sent")
    func staleEventSkipped() async throws {
        let (_, probe, _, broker) = try await system()
        let customer = TestEnvironment.unique("cust")
        let chat = uniqueChat()
        try await setContact(pool, customer, chat: chat)
        let id = try await publishDepositPaid(customer, broker: broker, at: Date().addingTimeInterval(-3 * 86_400))
        let delivery = try await probe.await(id, .telegram, status: "skipped")
        #expect(delivery?.error?.contains("before the notifier first ran") == true)
        #expect(try await probe.received(chat: chat).accepted.isEmpty)
    }

    @Test("Telegram 429 with retry_after 2: sent once, at least 2 s after the refusal")
    func rateLimitedThenSent() async throws {
        let (_, probe, _, broker) = try await system()
        let customer = TestEnvironment.unique("cust")
        let chat = uniqueChat()
        try await setContact(pool, customer, chat: chat)
        try await probe.fault(chat: chat, kind: "too-many-requests", count: 1, retryAfter: 2)
        let id = try await publishDepositPaid(customer, broker: broker)
        let delivery = try await probe.await(id, .telegram, status: "sent")
        #expect(delivery?.attempts == 2, "the 429 and the send")
        let received = try await probe.received(chat: chat)
        #expect(received.accepted.count == 1)
        #expect(received.rejected.map(\.status) == [429])
        if let refused = received.rejected.first?.at, let sent = received.accepted.first?.at {
            #expect(sent - refused >= 2_000, "sent \(sent - refused) ms after the 429")
        }
    }

    @Test("Telegram 403 (blocked): recorded failed after one attempt, never retried; email still goes")
    func blockedIsPermanent() async throws {
        let (_, probe, maildir, broker) = try await system()
        let customer = TestEnvironment.unique("cust")
        let chat = uniqueChat()
        let email = "\(customer)@example.test"
        try await setContact(pool, customer, email: email, chat: chat)
        try await probe.fault(chat: chat, kind: "blocked", count: -1)
        let id = try await publishDepositPaid(customer, broker: broker)
        let failed = try await probe.await(id, .telegram, status: "failed")
        #expect(failed?.attempts == 1)
        #expect(failed?.error?.contains("403") == true)
        let sendId = MessageID.derive(
            "send", MessageID.derive("notification-delivery", id.uuidString.lowercased(), "telegram").uuidString.lowercased())
        // The answer is recorded first, then with the message's inbox row: once that row is there, a
        // redelivery is a no-op, so there is no retry to wait for.
        #expect(
            try await eventually(timeout: .seconds(10)) {
                try await pool.withConnection {
                    try $0.query("SELECT 1 FROM inbox WHERE consumer = 'armada-notifier.telegram' AND message_id = $1", sendId).count
                } == 1
            })
        #expect(try await probe.received(chat: chat).rejected.count == 1)
        #expect(try await probe.await(id, .email, status: "sent") != nil, "the other channel is not held back")
        #expect(Peers.sinkMessages(maildir).filter { $0.contains("<\(email)>") }.count == 1)
    }

    @Test("an SMTP 550 for the recipient is recorded failed, not retried")
    func rejectedRecipient() async throws {
        let (_, probe, _, broker) = try await system()
        let customer = TestEnvironment.unique("cust")
        try await setContact(pool, customer, email: "reject-\(customer)@example.test")
        let id = try await publishDepositPaid(customer, broker: broker)
        let failed = try await probe.await(id, .email, status: "failed")
        #expect(failed?.attempts == 1)
        #expect(failed?.error?.contains("550") == true)
    }

    @Test("an unknown event type and a malformed event are dead-lettered from armada.notifications, not dropped")
    func unknownAndMalformedDeadLettered() async throws {
        let (_, _, _, broker) = try await system()
        let unknown = UUID()
        let malformed = UUID()
        let unknownBody =
            #"{"id":"\#(unknown.uuidString.lowercased())","type":"event.spaceship.launched","version":1,"occurredAt":"2026-11-25T09:00:00Z","data":{"customerId":"x"}}"#
        let malformedBody =
            #"{"id":"\#(malformed.uuidString.lowercased())","type":"event.deposit.paid","version":1,"occurredAt":"2026-11-25T09:00:00Z","data":{"customerId":7}}"#
        for (id, type, body) in [(unknown, "event.spaceship.launched", unknownBody), (malformed, "event.deposit.paid", malformedBody)] {
            try await broker.publish(
                exchange: Exchange.events, routingKey: type, properties: .armada(messageId: id, type: type, correlationId: nil),
                body: Array(body.utf8))
        }
        var classes: [UUID: String] = [:]
        _ = try await eventually(timeout: .seconds(30)) {
            for copy in try await broker.perform({ try $0.peekAll("armada.notifications.dead") }) {
                if let text = copy.properties.messageId, let id = UUID(uuidString: text), [unknown, malformed].contains(id) {
                    classes[id] = copy.properties.headers["x-error-class"]?.stringValue
                }
            }
            return classes.count == 2
        }
        #expect(classes[unknown] == "unknown-type")
        // The envelope decodes, its data does not: the handler cannot run it (poison).
        #expect(classes[malformed] == "poison")
    }
}

extension AMQPConnection {
    /// Every message in `queue`, left in place: each is fetched unacknowledged, then all are
    /// given back.
    func peekAll(_ queue: String) throws -> [(properties: MessageProperties, body: [UInt8])] {
        var seen: [(properties: MessageProperties, body: [UInt8])] = []
        var tags: [UInt64] = []
        while let message = try get(queue: queue) {
            seen.append((message.properties, message.body))
            tags.append(message.deliveryTag)
        }
        for tag in tags { try nack(tag, requeue: true) }
        return seen
    }
}

/// Telegram's limits, measured from the simulator's receive times.
@Suite("Notifications: Telegram pacing across the running notifier")
struct TelegramPacingEndToEndTests {
    let pool = TestDatabase.pool(size: 2, name: "e2e-pacing")

    func publish(_ customers: [String], broker: BrokerClient) async throws -> [UUID] {
        var ids: [UUID] = []
        for customer in customers { ids.append(try await publishDepositPaid(customer, broker: broker)) }
        return ids
    }

    func sentCount(_ ids: [UUID]) async throws -> Int {
        let list = ids.map { $0.uuidString.lowercased() }.joined(separator: ",")
        return try await pool.withConnection {
            try $0.query(
                """
                SELECT count(*)::int AS n FROM notification_deliveries
                WHERE notification_id = ANY(string_to_array($1, ',')::uuid[]) AND channel = 'telegram' AND status = 'sent'
                """, list
            ).first!.decode("n")
        }
    }

    @Test("200 notifications to one chat arrive at most one a second")
    func oneChat() async throws {
        _ = try await RunningSystem.shared.baseURL()
        let probe = NotificationProbe(pool: pool, telegram: await RunningSystem.shared.telegramURL)
        let broker = try await brokerClient(TestEnvironment.amqpURL)
        let customer = TestEnvironment.unique("cust")
        let chat = uniqueChat()
        try await setContact(pool, customer, chat: chat)
        let ids = try await publish(Array(repeating: customer, count: 200), broker: broker)
        #expect(try await eventually(timeout: .seconds(420), every: .seconds(1)) { try await sentCount(ids) == 200 })
        let received = try await probe.received(chat: chat)
        #expect(received.accepted.count == 200, "each sent once")
        #expect(received.rejected.isEmpty, "never refused for going too fast")
        let times = received.accepted.map(\.at).sorted()
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        #expect(gaps.allSatisfy { $0 >= 1_000 }, "smallest gap \(gaps.min() ?? 0) ms")
    }

    @Test("notifications to 200 chats arrive at most 30 a second overall")
    func manyChats() async throws {
        _ = try await RunningSystem.shared.baseURL()
        let probe = NotificationProbe(pool: pool, telegram: await RunningSystem.shared.telegramURL)
        let broker = try await brokerClient(TestEnvironment.amqpURL)
        var chats: Set<String> = []
        var customers: [String] = []
        for _ in 0..<200 {
            let customer = TestEnvironment.unique("cust")
            let chat = uniqueChat()
            try await setContact(pool, customer, chat: chat)
            customers.append(customer)
            chats.insert(chat)
        }
        let ids = try await publish(customers, broker: broker)
        #expect(try await eventually(timeout: .seconds(120), every: .milliseconds(500)) { try await sentCount(ids) == 200 })
        // Everything the simulator took in that time, any chat: the limit is overall.
        let all = try await probe.received()
        #expect(all.accepted.count >= 200)
        let times = all.accepted.map(\.at).sorted()
        var busiest = 0
        var start = 0
        for end in times.indices {
            while times[end] - times[start] >= 1_000 { start += 1 }
            busiest = max(busiest, end - start + 1)
        }
        #expect(busiest <= 30, "at most 30 in any second; the busiest second had \(busiest)")
        #expect(all.rejected.filter { $0.chat.map(chats.contains) ?? false }.isEmpty, "none of these chats was refused for speed")
    }
}
