import ArmadaTestSupport
import Foundation
import Postgres
import Testing
import WalletContracts

@testable import Wallet

/// Secrets never reach a log or the database in the clear. The story touches every secret the
/// system holds, on good paths and failing ones, then every Armada process's captured log (of the
/// whole run so far: every other suite's work is in it too) and every table are searched for each.
@Suite("Secrets: never logged, DigitalOcean tokens only sealed at rest")
struct SecretsTests {
    let pool = TestDatabase.pool(size: 2, name: "e2e-secrets")

    @Test("a deposit, an order, accepted and refused DigitalOcean tokens, sent and refused Telegram messages: no secret in any log or row")
    func neverLogged() async throws {
        let base = try await RunningSystem.shared.baseURL()
        let probe = NotificationProbe(pool: pool, telegram: await RunningSystem.shared.telegramURL)
        let (customer, reference) = try await pendingDeposit(pool)
        let customerToken = try await Tokens.make(customer: customer)
        let adminToken = try await Tokens.make(customer: TestEnvironment.unique("secrets-admin"), role: "admin")
        let api = APIClient(base: base, token: customerToken)
        let admin = APIClient(base: base, token: adminToken)

        // Contact details with a chat the Telegram simulator refuses once (an error path that
        // could log the request URL, bot token included), then accepts.
        let chat = uniqueChat()
        try await probe.fault(chat: chat, kind: "server-error", count: 1)
        let contact = try await api.send(
            "PUT", "/api/v1/me/contact", json: #"{"email":"\#(customer)@example.test","name":"Sec","telegramChatId":"\#(chat)"}"#,
            idempotencyKey: UUID().uuidString)
        #expect(try await api.awaitCommand(json(contact)["commandId"] as? String ?? "")["status"] as? String == "succeeded")
        // A deposit paid by a signed callback: the private key signs, the API key reads.
        let (body, signature) = signedCallback(reference: reference)
        #expect(try await postCallback(base, body: body, signature: signature).status == 200)
        // A forged callback: refused, and the refusal logged.
        #expect(try await postCallback(base, body: body, signature: String(repeating: "0", count: 64)).status == 401)
        // An order: the provisioner opens the sealed DigitalOcean token and calls with it.
        _ = try await pool.transaction {
            try Ledger.credit(
                customer, amount: 1_000_000, reference: .adminAdjustment, referenceId: "seed-\(customer)", description: "t", on: $0)
        }
        let placed = try await api.send(
            "POST", "/api/v1/orders",
            json: #"{"planId":"6a1f0c3e-0b7d-5b0e-9a51-000000000001","image":"ubuntu-24-04-x64","billingPeriod":"MONTHLY"}"#,
            idempotencyKey: UUID().uuidString)
        let orderId = try #require(json(placed)["orderId"] as? String)
        // Tokens an admin adds: one DigitalOcean refuses (its error is logged), one it may accept
        // (another test may have added it first: a duplicate is refused after it is checked).
        let refusedToken = "secret-refused-do-token-\(UUID().uuidString.lowercased())"
        var adminCommands: [String] = []
        for token in [refusedToken, await RunningSystem.shared.spareDigitalOceanToken] {
            let added = try await admin.send(
                "POST", "/api/v1/admin/do-accounts", json: #"{"name":"sec-\#(UUID().uuidString.prefix(6))","token":"\#(token)"}"#,
                idempotencyKey: UUID().uuidString)
            adminCommands.append(try #require(json(added)["commandId"] as? String, "\(json(added))"))
        }
        for command in adminCommands { #expect(try await admin.awaitCommand(command)["status"] as? String != "pending") }

        // Everything has happened: the order is up, and both notifications reached Telegram
        // (the first after the simulator's refusal).
        let active = await eventually(timeout: .seconds(60), every: .milliseconds(200)) {
            (try? await api.send("GET", "/api/v1/orders/\(orderId)")).map { json($0)["status"] as? String == "ACTIVE" } ?? false
        }
        #expect(active)
        let delivered = try await eventually(timeout: .seconds(60), every: .milliseconds(200)) {
            let received = try await probe.received(chat: chat)
            return received.rejected.count >= 1 && received.accepted.count >= 2
        }
        #expect(delivered, "the deposit's and the VPS's notifications, one after a refusal")

        let secrets: [(name: String, value: String)] = [
            ("TRIPAY_PRIVATE_KEY", testTripayKey), ("TRIPAY_API_KEY", testTripayAPIKey), ("ARMADA_JWT_SECRET", testJWTSecret),
            ("ARMADA_ENCRYPTION_KEY", testEncryptionKey), ("TELEGRAM_BOT_TOKEN", testBotToken),
            ("the bot token's secret part", String(testBotToken.split(separator: ":").last!)),
            ("the primary DigitalOcean token", await RunningSystem.shared.primaryDigitalOceanToken),
            ("the spare DigitalOcean token", await RunningSystem.shared.spareDigitalOceanToken),
            ("a refused DigitalOcean token", refusedToken), ("a customer's bearer token", customerToken),
            ("an admin's bearer token", adminToken),
            // Any JWT at all: a base64url JSON header starts so.
            ("a JWT", "eyJ"),
        ]
        let logs = await RunningSystem.shared.armadaLogs()
        #expect(logs.count == 5 && logs.values.allSatisfy { !$0.isEmpty }, "every process's log was captured")
        #expect(logs["armada-ingress"]?.contains("tripay callback rejected") == true, "the forged callback was logged")
        for (process, log) in logs {
            for secret in secrets {
                #expect(!log.contains(secret.value), "\(process)'s log holds \(secret.name)")
            }
        }

        // At rest: no table holds a DigitalOcean token, the bot token or a key in the clear.
        let tables: [String] = try await pool.withConnection {
            try $0.query(
                "SELECT table_name::text AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            )
            .map { try $0.decode("t") }
        }
        #expect(tables.contains("do_accounts") && tables.contains("outbox") && tables.contains("commands"))
        for table in tables {
            // One read of the table; every secret looked for in each row's text.
            let rows: [String] = try await pool.withConnection {
                try $0.query("SELECT r::text AS t FROM \"\(table)\" r").map { try $0.decode("t") }
            }
            for secret in secrets where secret.value != "eyJ" {
                #expect(!rows.contains { $0.contains(secret.value) }, "\(table) holds \(secret.name) in the clear")
            }
        }
    }
}
