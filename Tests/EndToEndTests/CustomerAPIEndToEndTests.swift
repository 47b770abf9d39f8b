import ArmadaTestSupport
import Curl
import Foundation
import Glibc
import Testing

@Suite("Customer API through the running ingress, payments worker and Tripay simulator")
struct CustomerAPIEndToEndTests {
    let pool = TestDatabase.pool(size: 2, name: "e2e-api")

    @Test("full story: create deposit → Tripay simulator pays → wallet credited → command succeeded")
    func depositStory() async throws {
        let base = try await RunningSystem.shared.baseURL()
        let simulator = await RunningSystem.shared.simulatorURL
        let customer = TestEnvironment.unique("cust")
        let api = APIClient(base: base, token: try await Tokens.make(customer: customer))
        let key = UUID().uuidString

        let accepted = try await api.send(
            "POST", "/api/v1/wallet/deposits", json: #"{"amount": 150000, "method": "BRIVA"}"#, idempotencyKey: key)
        #expect(accepted.status == 202)
        let commandId = try #require(json(accepted)["commandId"] as? String)
        let depositId = try #require(json(accepted)["depositId"] as? String)

        let command = try await api.awaitCommand(commandId)
        #expect(command["status"] as? String == "succeeded", "\(command)")
        let result = try #require(command["result"] as? [String: Any])
        #expect(result["id"] as? String == depositId)
        #expect(depositId == depositId.lowercased() && commandId == commandId.lowercased(), "ids are lower-case")
        #expect(result["amount"] as? Int == 150_000)
        #expect(result["fee"] as? Int == 4_250)
        #expect(result["totalAmount"] as? Int == 154_250)
        #expect(result["status"] as? String == "PENDING")
        #expect((result["payCode"] as? String)?.count == 16)
        let reference = try #require(result["reference"] as? String)

        let detail = try await api.send("GET", "/api/v1/wallet/deposits/\(depositId)")
        #expect(detail.status == 200)
        #expect(json(detail)["merchantRef"] as? String == "DEP-" + depositId.replacingOccurrences(of: "-", with: "").uppercased())

        let pay = try await CurlClient().send(HTTPRequest(method: "POST", url: simulator + "/_sim/transactions/\(reference)/pay"))
        #expect(pay.status == 202)
        let credited = await eventually {
            guard let wallet = try? await api.send("GET", "/api/v1/wallet") else { return false }
            return json(wallet)["balance"] as? Int == 150_000
        }
        #expect(credited)
        let paid = try await api.send("GET", "/api/v1/wallet/deposits/\(depositId)")
        #expect(json(paid)["status"] as? String == "PAID")
        let history = json(try await api.send("GET", "/api/v1/wallet/transactions"))
        let items = try #require(history["items"] as? [[String: Any]])
        #expect(items.count == 1)
        #expect(items.first?["referenceType"] as? String == "DEPOSIT")
        #expect(items.first?["amount"] as? Int == 150_000)

        // The same request again is the same command; the same key with another body is refused.
        let again = try await api.send(
            "POST", "/api/v1/wallet/deposits", json: #"{"amount": 150000, "method": "BRIVA"}"#, idempotencyKey: key)
        #expect(again.status == 202)
        #expect(json(again)["commandId"] as? String == commandId)
        let reused = try await api.send(
            "POST", "/api/v1/wallet/deposits", json: #"{"amount": 200000, "method": "BRIVA"}"#, idempotencyKey: key)
        #expect(reused.status == 422)
        #expect(errorCode(reused) == "IDEMPOTENCY_KEY_REUSED")
        #expect(try await balance(customer, pool) == 150_000)

        // Another customer sees none of it.
        let stranger = APIClient(base: base, token: try await Tokens.make(customer: TestEnvironment.unique("other")))
        let foreignDeposit = try await stranger.send("GET", "/api/v1/wallet/deposits/\(depositId)")
        #expect(foreignDeposit.status == 404)
        #expect(errorCode(foreignDeposit) == "DEPOSIT_NOT_FOUND")
        let foreignCommand = try await stranger.send("GET", "/api/v1/commands/\(commandId)")
        #expect(foreignCommand.status == 404)
        #expect(errorCode(foreignCommand) == "COMMAND_NOT_FOUND")
        #expect((json(try await stranger.send("GET", "/api/v1/wallet/deposits"))["items"] as? [Any])?.isEmpty == true)
    }

    @Test("a deposit on an inactive channel fails its command with TRIPAY_CHANNEL_NOT_FOUND and creates nothing")
    func inactiveChannel() async throws {
        let base = try await RunningSystem.shared.baseURL()
        let customer = TestEnvironment.unique("cust")
        let api = APIClient(base: base, token: try await Tokens.make(customer: customer))
        let accepted = try await api.send(
            "POST", "/api/v1/wallet/deposits", json: #"{"amount": 50000, "method": "OVO"}"#, idempotencyKey: UUID().uuidString)
        #expect(accepted.status == 202)
        let command = try await api.awaitCommand(try #require(json(accepted)["commandId"] as? String))
        #expect(command["status"] as? String == "failed")
        #expect((command["error"] as? [String: Any])?["code"] as? String == "TRIPAY_CHANNEL_NOT_FOUND")
        let depositId = try #require(json(accepted)["depositId"] as? String)
        #expect(try await api.send("GET", "/api/v1/wallet/deposits/\(depositId)").status == 404)
    }

    @Test("payment channels list the active channels from the cache")
    func channels() async throws {
        let base = try await RunningSystem.shared.baseURL()
        let api = APIClient(base: base, token: try await Tokens.make(customer: TestEnvironment.unique("cust")))
        var codes: [String] = []
        _ = await eventually {
            guard let response = try? await api.send("GET", "/api/v1/payment-channels") else { return false }
            let items = json(response)["items"] as? [[String: Any]]
            codes = items?.compactMap { $0["code"] as? String } ?? []
            return !codes.isEmpty
        }
        #expect(codes.contains("BRIVA"))
        #expect(!codes.contains("OVO"), "inactive channels are not offered")
    }

    @Test("every auth failure is a 401 with its code; an admin-only check is 403 for a customer")
    func authFailures() async throws {
        let base = try await RunningSystem.shared.baseURL()
        func code(_ token: String?) async throws -> (Int, String?) {
            let response = try await APIClient(base: base, token: token).send("GET", "/api/v1/wallet")
            return (response.status, errorCode(response))
        }
        #expect(try await code(nil) == (401, "MISSING_TOKEN"))
        #expect(try await code("not.a.jwt") == (401, "INVALID_TOKEN"))
        #expect(
            try await code(try await Tokens.make(customer: "c", secret: "another-fake-secret-that-is-long-enough-for-hs256")) == (
                401, "INVALID_TOKEN"
            ))
        #expect(try await code(try await Tokens.make(customer: "c", expiresIn: -60)) == (401, "TOKEN_EXPIRED"))
        #expect(try await code(try await Tokens.make(customer: "c", role: "superuser")) == (401, "INVALID_TOKEN"))
        let ok = try await code(try await Tokens.make(customer: "c"))
        #expect(ok.0 == 200)
    }

    @Test("malformed requests: content type, size, JSON, unknown field, range, type, missing key — each with its code and field")
    func malformedRequests() async throws {
        let base = try await RunningSystem.shared.baseURL()
        let api = APIClient(base: base, token: try await Tokens.make(customer: TestEnvironment.unique("cust")))
        func post(_ body: String, key: String? = UUID().uuidString, contentType: String = "application/json") async throws -> (
            Int, String?, String?
        ) {
            let response = try await api.send("POST", "/api/v1/wallet/deposits", json: body, idempotencyKey: key, contentType: contentType)
            return (response.status, errorCode(response), (json(response)["error"] as? [String: Any])?["field"] as? String)
        }
        #expect(try await post(#"{"amount": 50000, "method": "BRIVA"}"#, key: nil) == (400, "IDEMPOTENCY_KEY_REQUIRED", nil))
        #expect(try await post(#"{"amount": 50000, "method": "BRIVA"}"#, contentType: "text/plain") == (415, "UNSUPPORTED_MEDIA_TYPE", nil))
        #expect(try await post("{amount") == (400, "INVALID_JSON", nil))
        #expect(try await post("[1, 2]") == (400, "INVALID_JSON", nil))
        #expect(try await post(#"{"amount": 50000, "method": "BRIVA", "bonus": 1}"#) == (422, "UNKNOWN_FIELD", "bonus"))
        #expect(try await post(#"{"amount": 5000, "method": "BRIVA"}"#) == (422, "VALUE_OUT_OF_RANGE", "amount"))
        #expect(try await post(#"{"amount": 100000001, "method": "BRIVA"}"#) == (422, "VALUE_OUT_OF_RANGE", "amount"))
        #expect(try await post(#"{"amount": 50000.5, "method": "BRIVA"}"#) == (422, "VALIDATION_FAILED", "amount"))
        #expect(try await post(#"{"amount": true, "method": "BRIVA"}"#) == (422, "VALIDATION_FAILED", "amount"))
        #expect(try await post(#"{"amount": "50000", "method": "BRIVA"}"#) == (422, "VALIDATION_FAILED", "amount"))
        #expect(try await post(#"{"method": "BRIVA"}"#) == (422, "VALIDATION_FAILED", "amount"))
        #expect(try await post(#"{"amount": 50000}"#) == (422, "VALIDATION_FAILED", "method"))
        #expect(try await post(#"{"amount": 50000, "method": "bri va"}"#) == (422, "VALIDATION_FAILED", "method"))
        let huge = #"{"amount": 50000, "method": "BRIVA", "promoCode": ""# + String(repeating: "x", count: 20_000) + #""}"#
        #expect(try await post(huge).0 == 413)
        let badLimit = try await api.send("GET", "/api/v1/wallet/transactions?limit=1000")
        #expect(badLimit.status == 422)
        #expect((json(badLimit)["error"] as? [String: Any])?["field"] as? String == "limit")
    }

    @Test("a callback the ingress answered with 503 is resent by the simulator and credited once")
    func resentAfter503() async throws {
        _ = try await RunningSystem.shared.baseURL()  // the shared payments worker consumes what the second ingress publishes
        let port = freePort()
        let (simulator, simulatorBase) = try await Peers.tripaySimulator(
            apiKey: testTripayAPIKey, privateKey: testTripayKey, callbackURL: "http://127.0.0.1:\(port)/api/v1/webhooks/tripay",
            callbackRetries: 3, callbackIntervalSeconds: 2)
        defer { simulator.signal(SIGKILL) }
        // First an ingress that cannot reach the broker: it answers 503.
        let (down, _, _) = try launch("armada-ingress", amqpURL: "amqp://guest:guest@127.0.0.1:1/%2f", httpPort: port)
        #expect(await waitForHTTP("http://127.0.0.1:\(port)/health"))

        let tripay = TripayTestClient(base: simulatorBase)
        let customer = TestEnvironment.unique("cust")
        let transaction = try await tripay.create(amount: 150_000)
        _ = try await pool.transaction {
            try WalletDeposits.insert(customer: customer, reference: transaction.reference, on: $0)
        }
        _ = try await CurlClient().send(HTTPRequest(method: "POST", url: simulatorBase + "/_sim/transactions/\(transaction.reference)/pay"))
        let refused = await eventually { (try? await tripay.attempts(transaction.reference))?.first?.httpStatus == 503 }
        #expect(refused, "the first callback met the 503")
        await down.stop()

        // The broker is back (a healthy ingress on the same address) before Tripay's next resend.
        let (up, _, _) = try launch("armada-ingress", httpPort: port)
        defer { up.signal(SIGKILL) }
        #expect(await waitForHTTP("http://127.0.0.1:\(port)/ready"))
        let credited = await eventually(timeout: .seconds(20)) { (try? await balance(customer, pool)) == 150_000 }
        #expect(credited)
        let attempts = try await tripay.attempts(transaction.reference)
        #expect(attempts.last?.accepted == true)
        #expect(attempts.count >= 2)
        #expect(try await ledgerCount(customer, pool) == 1)
    }
}
