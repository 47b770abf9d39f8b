import ArmadaTestSupport
import Curl
import Foundation
import Testing

@Suite("Promos, welcome bonus and admin routes through the running system", .serialized)
struct PromoEndToEndTests {
    let pool = TestDatabase.pool(size: 2, name: "e2e-promos")

    func admin() async throws -> APIClient {
        APIClient(
            base: try await RunningSystem.shared.baseURL(),
            token: try await Tokens.make(customer: TestEnvironment.unique("admin"), role: "admin"))
    }

    func run(_ api: APIClient, _ method: String, _ path: String, _ body: String? = nil) async throws -> [String: Any] {
        let accepted = try await api.send(method, path, json: body, idempotencyKey: UUID().uuidString)
        #expect(accepted.status == 202, "\(method) \(path): \(String(decoding: accepted.body, as: UTF8.self))")
        return try await api.awaitCommand(try #require(json(accepted)["commandId"] as? String))
    }

    @Test("a deposit with a promo is credited amount + bonus as two ledger entries when paid")
    func depositWithPromo() async throws {
        let admin = try await admin()
        let code = "TOPUP10" + UUID().uuidString.prefix(5).uppercased()
        let created = try await run(
            admin, "POST", "/api/v1/admin/promos",
            #"{"code": "\#(code.lowercased())", "name": "Top up 10%", "type": "DEPOSIT_BONUS", "bonusType": "PERCENTAGE", "bonusValue": 10, "maxBonus": 12000, "minDeposit": 50000}"#
        )
        #expect(created["status"] as? String == "succeeded", "\(created)")
        #expect((created["result"] as? [String: Any])?["code"] as? String == code, "stored upper-case")

        let customer = APIClient(base: admin.base, token: try await Tokens.make(customer: TestEnvironment.unique("cust")))
        let preview = try await customer.send("POST", "/api/v1/promos/validate", json: #"{"code": "\#(code)", "amount": 150000}"#)
        #expect(json(preview)["bonus"] as? Int == 12_000, "10% of 150,000 capped at 12,000")
        let tooSmall = try await customer.send("POST", "/api/v1/promos/validate", json: #"{"code": "\#(code)", "amount": 20000}"#)
        #expect(errorCode(tooSmall) == "PROMO_MIN_DEPOSIT_NOT_MET")
        #expect(
            errorCode(try await customer.send("POST", "/api/v1/promos/validate", json: #"{"code": "NOPE-\#(code)", "amount": 20000}"#))
                == "PROMO_NOT_FOUND")

        let accepted = try await customer.send(
            "POST", "/api/v1/wallet/deposits", json: #"{"amount": 150000, "method": "BRIVA", "promoCode": "\#(code)"}"#,
            idempotencyKey: UUID().uuidString)
        let command = try await customer.awaitCommand(try #require(json(accepted)["commandId"] as? String))
        let reference = try #require((command["result"] as? [String: Any])?["reference"] as? String, "\(command)")
        let simulator = await RunningSystem.shared.simulatorURL
        _ = try await CurlClient().send(HTTPRequest(method: "POST", url: simulator + "/_sim/transactions/\(reference)/pay"))
        let credited = await eventually {
            json((try? await customer.send("GET", "/api/v1/wallet")) ?? HTTPResponseBox.empty)["balance"] as? Int == 162_000
        }
        #expect(credited)
        let items = json(try await customer.send("GET", "/api/v1/wallet/transactions"))["items"] as? [[String: Any]] ?? []
        #expect(items.compactMap { $0["referenceType"] as? String }.sorted() == ["DEPOSIT", "DEPOSIT_BONUS"])
        let deposit = json(
            try await customer.send("GET", "/api/v1/wallet/deposits/\(try #require(json(accepted)["depositId"] as? String))"))
        #expect(deposit["bonus"] as? Int == 12_000)

        // Deactivated: a new deposit with it fails before Tripay is asked.
        let promoId = try #require((created["result"] as? [String: Any])?["id"] as? String)
        #expect(try await run(admin, "DELETE", "/api/v1/admin/promos/\(promoId)")["status"] as? String == "succeeded")
        let refused = try await customer.send(
            "POST", "/api/v1/wallet/deposits", json: #"{"amount": 150000, "method": "BRIVA", "promoCode": "\#(code)"}"#,
            idempotencyKey: UUID().uuidString)
        let failed = try await customer.awaitCommand(try #require(json(refused)["commandId"] as? String))
        #expect((failed["error"] as? [String: Any])?["code"] as? String == "PROMO_INACTIVE")
    }

    @Test("the welcome bonus is claimed once per customer, whatever maxUsesPerCustomer says, also by six claims at once")
    func welcomeBonus() async throws {
        let admin = try await admin()
        try await pool.withConnection { try $0.execute("UPDATE promos SET active = false WHERE promo_type = 'WELCOME_BONUS'") }
        let code = "WELCOME" + UUID().uuidString.prefix(5).uppercased()
        let created = try await run(
            admin, "POST", "/api/v1/admin/promos",
            #"{"code": "\#(code)", "name": "Selamat datang", "type": "WELCOME_BONUS", "bonusType": "FIXED_AMOUNT", "bonusValue": 10000, "maxUsesPerCustomer": 5}"#
        )
        #expect(created["status"] as? String == "succeeded", "\(created)")
        let second = try await run(
            admin, "POST", "/api/v1/admin/promos",
            #"{"code": "\#(code)X", "name": "another", "type": "WELCOME_BONUS", "bonusType": "FIXED_AMOUNT", "bonusValue": 5000}"#)
        #expect((second["error"] as? [String: Any])?["code"] as? String == "WELCOME_BONUS_ALREADY_ACTIVE")

        let customer = APIClient(base: admin.base, token: try await Tokens.make(customer: TestEnvironment.unique("cust")))
        let offer = json(try await customer.send("GET", "/api/v1/promos/welcome-bonus"))
        #expect(offer["available"] as? Bool == true)
        #expect(offer["amount"] as? Int == 10_000)
        // Each claim's outcome: "succeeded" or its error code.
        let claims = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    let outcome = try await self.run(customer, "POST", "/api/v1/promos/welcome-bonus/claim")
                    return (outcome["error"] as? [String: Any])?["code"] as? String ?? outcome["status"] as? String ?? "?"
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(
            claims.sorted() == [
                "PROMO_ALREADY_USED", "PROMO_ALREADY_USED", "PROMO_ALREADY_USED", "PROMO_ALREADY_USED", "PROMO_ALREADY_USED", "succeeded",
            ], "\(claims)")
        #expect(json(try await customer.send("GET", "/api/v1/wallet"))["balance"] as? Int == 10_000)
        let again = try await run(customer, "POST", "/api/v1/promos/welcome-bonus/claim")
        #expect((again["error"] as? [String: Any])?["code"] as? String == "PROMO_ALREADY_USED")
        #expect(json(try await customer.send("GET", "/api/v1/wallet"))["balance"] as? Int == 10_000)
        #expect(json(try await customer.send("GET", "/api/v1/promos/welcome-bonus"))["claimed"] as? Bool == true)
        try await pool.withConnection { try $0.execute("UPDATE promos SET active = false WHERE code = $1", code) }
    }

    @Test("admin routes are 403 for customers; adjustments go through the ledger and never below zero")
    func adminRoutes() async throws {
        let admin = try await admin()
        let customerId = TestEnvironment.unique("cust")
        let customer = APIClient(base: admin.base, token: try await Tokens.make(customer: customerId))
        let forbidden = try await customer.send("GET", "/api/v1/admin/promos")
        #expect(forbidden.status == 403)
        #expect(errorCode(forbidden) == "FORBIDDEN")
        #expect(
            try await customer.send(
                "POST", "/api/v1/admin/wallets/\(customerId)/adjustments", json: #"{"amount": 1, "description": "x"}"#, idempotencyKey: "k"
            ).status == 403)

        let credit = try await run(
            admin, "POST", "/api/v1/admin/wallets/\(customerId)/adjustments", #"{"amount": 25000, "description": "goodwill"}"#)
        #expect(credit["status"] as? String == "succeeded")
        let debit = try await run(
            admin, "POST", "/api/v1/admin/wallets/\(customerId)/adjustments", #"{"amount": -30000, "description": "too much"}"#)
        #expect((debit["error"] as? [String: Any])?["code"] as? String == "INSUFFICIENT_BALANCE")
        #expect(json(try await customer.send("GET", "/api/v1/wallet"))["balance"] as? Int == 25_000)
        let cleared = try await run(
            admin, "POST", "/api/v1/admin/promos",
            #"{"code": "CLEAR\#(UUID().uuidString.prefix(5))", "name": "c", "type": "DEPOSIT_BONUS", "bonusType": "PERCENTAGE", "bonusValue": 5, "maxBonus": 1000, "maxTotalUses": 10}"#
        )
        let clearedId = try #require((cleared["result"] as? [String: Any])?["id"] as? String)
        let patched = try await run(admin, "PATCH", "/api/v1/admin/promos/\(clearedId)", #"{"maxBonus": null, "name": "renamed"}"#)
        let after = try #require(patched["result"] as? [String: Any], "\(patched)")
        #expect(after["maxBonus"] == nil, "an explicit null clears the field")
        #expect(after["maxTotalUses"] as? Int == 10, "an absent field stays")
        #expect(after["name"] as? String == "renamed")
        let welcomePercent = try await admin.send(
            "POST", "/api/v1/admin/promos",
            json:
                #"{"code": "WPCT\#(UUID().uuidString.prefix(5))", "name": "w", "type": "WELCOME_BONUS", "bonusType": "PERCENTAGE", "bonusValue": 5}"#,
            idempotencyKey: UUID().uuidString)
        #expect(welcomePercent.status == 422)
        #expect(errorCode(welcomePercent) == "VALIDATION_FAILED")
        let immutable = try await admin.send(
            "PATCH", "/api/v1/admin/promos/\(UUID().uuidString)", json: #"{"code": "NEW"}"#, idempotencyKey: UUID().uuidString)
        #expect(errorCode(immutable) == "PROMO_FIELD_IMMUTABLE")
        let list = try await admin.send("GET", "/api/v1/admin/promos")
        #expect(list.status == 200)
    }
}
