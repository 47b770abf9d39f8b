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
        // The late real callback is applied by the same rules and changes nothing.
        let lateHandled = await eventually(timeout: .seconds(15)) {
            let outcomes = try? await pool.withConnection { connection in
                try connection.query("SELECT outcome FROM tripay_callbacks WHERE reference = $1 ORDER BY id", reference).map {
                    try $0.decode("outcome", as: String.self)
                }
            }
            return outcomes == ["CREDITED", "ALREADY_PAID"]
        }
        #expect(lateHandled)
        #expect(json(try await api.send("GET", "/api/v1/wallet"))["balance"] as? Int == 150_000)
    }

    @Test("a deposit Tripay still calls UNPAID is expired by reconciliation only past its expiry and the grace period")
    func expiredAfterGrace() async throws {
        let (_, depositId, reference) = try await createdDeposit()
        let id = try #require(UUID(uuidString: depositId))
        // Its expiry passed (the running system gives 1 s of grace); Tripay still says UNPAID.
        _ = try await pool.withConnection {
            try $0.execute("UPDATE deposits SET expires_at = now() - interval '5 seconds', next_reconcile_at = NULL WHERE id = $1", id)
        }
        let expired = await eventually(timeout: .seconds(15)) {
            (try? await pool.withConnection { try Deposits.find(id: id, on: $0)?.status }) == .expired
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

    @Test("a deposit whose lookup fails (Tripay does not know it) is never expired, however late, and is checked less and less often")
    func failedLookupChangesNothing() async throws {
        _ = try await RunningSystem.shared.baseURL()
        let customer = TestEnvironment.unique("cust")
        let reference = "T0001GONE" + UUID().uuidString.prefix(8).uppercased()
        let deposit = try await pool.transaction {
            try Deposits.insert(
                NewDeposit(
                    id: UUID(), customerId: customer, amount: 50_000, fee: 0, method: "BRIVA", reference: reference,
                    expiresAt: Date().addingTimeInterval(-86_400)),
                on: $0)!
        }
        let id = deposit.id
        // Checked twice (a positive condition), and still PENDING.
        let checked = await eventually(timeout: .seconds(20)) {
            let row = try? await pool.withConnection { connection in
                try connection.query("SELECT reconcile_attempts, status FROM deposits WHERE id = $1", id).first.map {
                    (try $0.decode("reconcile_attempts", as: Int.self), try $0.decode("status", as: String.self))
                }
            }
            return (row.flatMap { $0 }?.0 ?? 0) >= 2
        }
        #expect(checked)
        #expect(try await pool.withConnection { try Deposits.find(id: id, on: $0)?.status } == .pending)
        let backoff = try await pool.withConnection { connection in
            try connection.query("SELECT extract(epoch FROM next_reconcile_at - reconciled_at)::int AS s FROM deposits WHERE id = $1", id)
                .first?.decode("s", as: Int.self)
        }
        #expect((backoff ?? 0) >= 2, "the next check backs off: \(String(describing: backoff)) s")
    }
}

/// An empty response for `json(...)` when a request failed.
enum HTTPResponseBox {
    static let empty = HTTPResponse(status: 0, headers: [], body: Array("{}".utf8))
}
