import ArmadaTestSupport
import Curl
import Foundation
import Postgres
import Testing
import WalletContracts

@testable import Wallet

@Suite("Deposit cancel, reconciliation and expiry through the running system")
struct DepositLifecycleEndToEndTests {
    let pool = TestDatabase.pool(size: 2, name: "e2e-deposits")

    /// A deposit created through the API and recorded by the worker; returns (api, depositId, reference).
    func createdDeposit() async throws -> (APIClient, String, String) {
        let base = try await RunningSystem.shared.baseURL()
        let api = APIClient(base: base, token: try await Tokens.make(customer: TestEnvironment.unique("cust")))
        let accepted = try await api.send(
            "POST", "/api/v1/wallet/deposits", json: #"{"amount": 150000, "method": "BRIVA"}"#, idempotencyKey: UUID().uuidString)
        let command = try await api.awaitCommand(try #require(json(accepted)["commandId"] as? String))
        let result = try #require(command["result"] as? [String: Any], "\(command)")
        return (api, try #require(result["id"] as? String), try #require(result["reference"] as? String))
    }

    @Test("a PENDING deposit can be canceled once; then it is not cancelable, and a foreign one is 404")
    func cancel() async throws {
        let (api, depositId, _) = try await createdDeposit()
        let missingKey = try await api.send("DELETE", "/api/v1/wallet/deposits/\(depositId)")
        #expect(errorCode(missingKey) == "IDEMPOTENCY_KEY_REQUIRED")
        let accepted = try await api.send("DELETE", "/api/v1/wallet/deposits/\(depositId)", idempotencyKey: UUID().uuidString)
        #expect(accepted.status == 202)
        let done = try await api.awaitCommand(try #require(json(accepted)["commandId"] as? String))
        #expect(done["status"] as? String == "succeeded")
        #expect(json(try await api.send("GET", "/api/v1/wallet/deposits/\(depositId)"))["status"] as? String == "CANCELED")

        let again = try await api.send("DELETE", "/api/v1/wallet/deposits/\(depositId)", idempotencyKey: UUID().uuidString)
        let refused = try await api.awaitCommand(try #require(json(again)["commandId"] as? String))
        #expect(refused["status"] as? String == "failed")
        #expect((refused["error"] as? [String: Any])?["code"] as? String == "DEPOSIT_NOT_CANCELABLE")

        let stranger = APIClient(base: api.base, token: try await Tokens.make(customer: TestEnvironment.unique("other")))
        let foreign = try await stranger.send("DELETE", "/api/v1/wallet/deposits/\(depositId)", idempotencyKey: UUID().uuidString)
        #expect(foreign.status == 404)
        #expect(errorCode(foreign) == "DEPOSIT_NOT_FOUND")
    }

    @Test("a payment whose callbacks never arrived is found by reconciliation and credited once")
    func reconciledPayment() async throws {
        let (api, depositId, reference) = try await createdDeposit()
        let simulator = await RunningSystem.shared.simulatorURL
        // Paid at Tripay, but no callback reaches us.
        let paid = try await CurlClient().send(
            HTTPRequest(method: "POST", url: simulator + "/_sim/transactions/\(reference)/pay?callback=false"))
        #expect(paid.status == 202)
        let credited = await eventually(timeout: .seconds(15)) {
            json((try? await api.send("GET", "/api/v1/wallet")) ?? HTTPResponseBox.empty)["balance"] as? Int == 150_000
        }
        #expect(credited)
        #expect(json(try await api.send("GET", "/api/v1/wallet/deposits/\(depositId)"))["status"] as? String == "PAID")
        // A late real callback for the same payment changes nothing.
        let late = try await CurlClient().send(HTTPRequest(method: "POST", url: simulator + "/_sim/transactions/\(reference)/pay"))
        #expect(late.status == 202)
        // The late callback has the reconciled one's id: wait until the worker took it as a duplicate.
        let id = TripayCallbackReceived.messageID(reference: reference, status: "PAID")
        let lateHandled = await eventually(timeout: .seconds(15)) {
            await RunningSystem.shared.paymentsLogCount("already processed", messageId: id) >= 1
        }
        #expect(lateHandled)
        #expect(json(try await api.send("GET", "/api/v1/wallet"))["balance"] as? Int == 150_000)
    }

    @Test("a PENDING deposit past its expiry that Tripay does not know is expired by reconciliation")
    func expired() async throws {
        _ = try await RunningSystem.shared.baseURL()
        let customer = TestEnvironment.unique("cust")
        let reference = "T0001GONE" + UUID().uuidString.prefix(8).uppercased()
        let deposit = try await pool.transaction {
            try Deposits.insert(
                NewDeposit(
                    id: UUID(), customerId: customer, amount: 50_000, fee: 0, method: "BRIVA", reference: reference,
                    expiresAt: Date().addingTimeInterval(-60)),
                on: $0)!
        }
        let expired = await eventually(timeout: .seconds(15)) {
            (try? await pool.withConnection { try Deposits.find(id: deposit.id, on: $0)?.status }) == .expired
        }
        #expect(expired)
        let event = try await pool.withConnection {
            try $0.query(
                "SELECT count(*)::int AS n FROM outbox WHERE message_type = 'event.deposit.expired' AND body LIKE '%' || $1 || '%'",
                reference
            ).first!.decode("n", as: Int.self)
        }
        #expect(event == 1)
    }
}

/// An empty response for `json(...)` when a request failed.
enum HTTPResponseBox {
    static let empty = HTTPResponse(status: 0, headers: [], body: Array("{}".utf8))
}
