import AMQP
import ArmadaTestSupport
import Curl
import Foundation
import Glibc
import Testing
import Tripay
import WalletContracts

@Suite("Tripay callback through the running ingress and payments worker")
struct TripayCallbackEndToEndTests {
    let pool = TestDatabase.pool(size: 2, name: "e2e")

    @Test("a correctly signed PAID callback is answered success and credits the wallet once")
    func signedPaidCredits() async throws {
        let base = try await RunningSystem.shared.baseURL()
        let (customer, reference) = try await pendingDeposit(pool)
        let (body, signature) = signedCallback(reference: reference)
        let response = try await postCallback(base, body: body, signature: signature)
        #expect(response.status == 200)
        #expect(json(response)["success"] as? Bool == true)
        let credited = await eventually { (try? await balance(customer, pool)) == 150_000 }
        #expect(credited)
        #expect(try await ledgerCount(customer, pool) == 1)
    }

    @Test("the same callback sent 5 times credits once")
    func fiveTimesCreditsOnce() async throws {
        let base = try await RunningSystem.shared.baseURL()
        let (customer, reference) = try await pendingDeposit(pool)
        let (body, signature) = signedCallback(reference: reference)
        for _ in 0..<5 {
            let response = try await postCallback(base, body: body, signature: signature)
            #expect(response.status == 200)
        }
        let credited = await eventually { (try? await balance(customer, pool)) == 150_000 }
        #expect(credited)
        // All five were confirmed into the queue before their 200; wait until the worker handled
        // the four repeats (it logs each as a duplicate), then look.
        let id = TripayCallbackReceived.messageID(reference: reference, status: "PAID")
        let repeatsHandled = await eventually {
            await RunningSystem.shared.paymentsLogCount("already processed", messageId: id) == 4
        }
        #expect(repeatsHandled)
        #expect(try await balance(customer, pool) == 150_000)
        #expect(try await ledgerCount(customer, pool) == 1)
        let handled = try await pool.withConnection {
            try $0.query("SELECT count(*)::int AS n FROM tripay_callbacks WHERE reference = $1", reference).first!.decode("n", as: Int.self)
        }
        #expect(handled == 1, "the four repeats were no-ops in the inbox")
    }

    @Test("bad signature, missing signature, wrong event, malformed or incomplete JSON, oversized body: 4xx with a code")
    func rejections() async throws {
        let base = try await RunningSystem.shared.baseURL()
        let (body, signature) = signedCallback(reference: "T0001REJECT")
        let badSignature = try await postCallback(base, body: body, signature: String(repeating: "a", count: 64))
        #expect(badSignature.status == 401)
        #expect(errorCode(badSignature) == "INVALID_SIGNATURE")
        let otherKey = try await postCallback(
            base, body: body, signature: signedCallback(reference: "T0001REJECT", key: "another-fake-key").signature)
        #expect(errorCode(otherKey) == "INVALID_SIGNATURE")
        let missing = try await postCallback(base, body: body, signature: nil)
        #expect(missing.status == 401)
        #expect(errorCode(missing) == "MISSING_SIGNATURE")
        let wrongEvent = try await postCallback(base, body: body, signature: signature, event: "payment_refund")
        #expect(wrongEvent.status == 400)
        #expect(errorCode(wrongEvent) == "INVALID_CALLBACK_EVENT")
        let noEvent = try await postCallback(base, body: body, signature: signature, event: nil)
        #expect(errorCode(noEvent) == "INVALID_CALLBACK_EVENT")
        let garbage = Array("{not json".utf8)
        let malformed = try await postCallback(base, body: garbage, signature: signedCallbackSignature(garbage))
        #expect(malformed.status == 400)
        #expect(errorCode(malformed) == "MALFORMED_CALLBACK")
        let incomplete = Array(#"{"reference":"T1","status":"PAID"}"#.utf8)
        let missingField = try await postCallback(base, body: incomplete, signature: signedCallbackSignature(incomplete))
        #expect(errorCode(missingField) == "MALFORMED_CALLBACK")
        let unknownStatus = Array(#"{"reference":"T1","total_amount":1,"status":"MAYBE"}"#.utf8)
        #expect(
            errorCode(try await postCallback(base, body: unknownStatus, signature: signedCallbackSignature(unknownStatus)))
                == "MALFORMED_CALLBACK")
        let huge = [UInt8](repeating: 0x20, count: 100_000)
        let tooLarge = try await postCallback(base, body: huge, signature: signedCallbackSignature(huge))
        #expect(tooLarge.status == 413)
        #expect(errorCode(tooLarge) == "PAYLOAD_TOO_LARGE")
    }

    @Test("health, readiness and metrics endpoints answer")
    func operationalEndpoints() async throws {
        let base = try await RunningSystem.shared.baseURL()
        let client = CurlClient()
        #expect(try await client.send(HTTPRequest(url: base + "/health")).status == 200)
        let ready = try await client.send(HTTPRequest(url: base + "/ready"))
        #expect(ready.status == 200)
        #expect((json(ready)["checks"] as? [String: String]) == ["postgres": "up", "rabbitmq": "up"])
        let metrics = try await client.send(HTTPRequest(url: base + "/metrics"))
        #expect(metrics.status == 200)
        #expect(metrics.header("content-type")?.hasPrefix("text/plain") == true)
        let unknown = try await client.send(HTTPRequest(url: base + "/api/v1/nothing-here"))
        #expect(unknown.status == 404)
        #expect(errorCode(unknown) == "NOT_FOUND")
    }
}

func signedCallbackSignature(_ body: [UInt8]) -> String { TripaySignature.callback(body: body, privateKey: testTripayKey) }
