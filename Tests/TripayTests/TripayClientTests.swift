import ArmadaTestSupport
import Curl
import Foundation
import Testing
import Tripay

let simAPIKey = "DEV-test-fake-api-key"
let simPrivateKey = "test-fake-private-key"

func simulatorClient(_ base: String, apiKey: String = simAPIKey, privateKey: String = simPrivateKey) -> TripayClient {
    TripayClient(configuration: TripayConfiguration(baseURL: base, apiKey: apiKey, privateKey: privateKey, merchantCode: "T0001"))
}

func create(_ client: TripayClient, method: String = "BRIVA", merchantRef: String = TestEnvironment.unique("DEP"), amount: Int64 = 150_000)
    async throws -> TripayTransaction
{
    try await client.createTransaction(
        method: method, merchantRef: merchantRef, amount: amount, customerName: "Budi", customerEmail: "budi@example.test",
        customerPhone: nil,
        orderItems: [TripayOrderItem(sku: "TOPUP", name: "Wallet top-up", price: amount, quantity: 1)], callbackURL: nil, returnURL: nil,
        expiresAt: Date().addingTimeInterval(86_400))
}

@Suite("Channel fee rule (DOMAIN.md)")
struct ChannelFeeTests {
    @Test("fee = flat + round(amount × percent / 100), clamped to the channel's minimum and maximum fee")
    func feeRule() {
        let flat = PaymentChannel(
            group: "VA", code: "BRIVA", name: "BRI", feeCustomer: .init(flat: 4_250, percent: 0), totalFee: .init(flat: 4_250, percent: 0))
        #expect(flat.fee(for: 150_000) == 4_250)
        let mixed = PaymentChannel(
            group: "EW", code: "QRIS2", name: "QRIS", feeCustomer: .init(flat: 750, percent: 0.7), totalFee: .init(flat: 750, percent: 0.7),
            minimumFee: 1_000, maximumFee: 50_000)
        #expect(mixed.fee(for: 150_000) == 750 + 1_050)
        #expect(mixed.fee(for: 10_000) == 1_000, "750 + 70 is below the minimum fee")
        #expect(mixed.fee(for: 10_000_000) == 50_000, "capped at the maximum fee")
        let halves = PaymentChannel(
            group: "EW", code: "X", name: "X", feeCustomer: .init(flat: 0, percent: 0.5), totalFee: .init(flat: 0, percent: 0.5))
        #expect(halves.fee(for: 101) == 1, "0.505 rounds half up to 1")
        #expect(halves.fee(for: 99) == 0, "0.495 rounds down")
    }
}

@Suite("Tripay client against the Tripay simulator")
struct TripayClientTests {
    @Test("payment channels need the bearer API key")
    func channels() async throws {
        let (sim, base) = try await Peers.tripaySimulator(apiKey: simAPIKey, privateKey: simPrivateKey)
        defer { sim.signal(SIGKILL) }
        let channels = try await simulatorClient(base).paymentChannels()
        #expect(channels.contains { $0.code == "BRIVA" && $0.active })
        #expect(channels.contains { $0.code == "OVO" && !$0.active })
        await #expect(throws: TripayError.rejected(status: 401, message: "Invalid API Key")) {
            _ = try await simulatorClient(base, apiKey: "wrong").paymentChannels()
        }
    }

    @Test("a signed create returns reference, fee, pay code and checkout URL; detail returns the same")
    func createAndDetail() async throws {
        let (sim, base) = try await Peers.tripaySimulator(apiKey: simAPIKey, privateKey: simPrivateKey)
        defer { sim.signal(SIGKILL) }
        let client = simulatorClient(base)
        let transaction = try await create(client)
        #expect(transaction.reference.hasPrefix("T0001"))
        #expect(transaction.status == "UNPAID")
        #expect(transaction.feeCustomer == 4_250)
        #expect(transaction.amount == 154_250)
        #expect(transaction.payCode?.count == 16)
        #expect(transaction.checkoutURL != nil)
        let detail = try await client.transactionDetail(reference: transaction.reference)
        #expect(detail.reference == transaction.reference)
        #expect(detail.paidAt == nil)
    }

    @Test("a create with a wrong signature, an inactive channel or an unknown reference is rejected, not retried")
    func rejections() async throws {
        let (sim, base) = try await Peers.tripaySimulator(apiKey: simAPIKey, privateKey: simPrivateKey)
        defer { sim.signal(SIGKILL) }
        await #expect(throws: TripayError.rejected(status: 400, message: "Invalid signature")) {
            _ = try await create(simulatorClient(base, privateKey: "another-key"))
        }
        await #expect(throws: TripayError.rejected(status: 400, message: "Payment channel is not enabled")) {
            _ = try await create(simulatorClient(base), method: "OVO")
        }
        await #expect(throws: TripayError.rejected(status: 400, message: "Transaction not found")) {
            _ = try await simulatorClient(base).transactionDetail(reference: "T0001NOPE")
        }
        #expect(!TripayError.rejected(status: 400, message: "").isRetriable)
    }

    @Test("like Tripay, a repeated merchant_ref creates a second payable transaction; the merchant list finds both, paged")
    func repeatedCreateIsNotDeduplicated() async throws {
        let (sim, base) = try await Peers.tripaySimulator(apiKey: simAPIKey, privateKey: simPrivateKey)
        defer { sim.signal(SIGKILL) }
        let client = simulatorClient(base)
        let ref = TestEnvironment.unique("DEP")
        let first = try await create(client, merchantRef: ref)
        let second = try await create(client, merchantRef: ref)
        #expect(first.reference != second.reference, "Tripay does not promise to deduplicate merchant_ref")
        _ = try await create(client, merchantRef: TestEnvironment.unique("OTHER"))
        // One per page: the client follows the pages and keeps only this merchant_ref's.
        let found = try await client.transactions(merchantRef: ref, perPage: 1)
        #expect(found.map(\.reference) == [first.reference, second.reference])
        #expect(found.allSatisfy { $0.status == "UNPAID" && $0.merchantRef == ref })
        #expect(try await client.transactions(merchantRef: TestEnvironment.unique("NONE")).isEmpty)
    }

    @Test("the merchant list filters by status and method and sorts newest first by default (wire format)")
    func merchantListWireFormat() async throws {
        let (sim, base) = try await Peers.tripaySimulator(apiKey: simAPIKey, privateKey: simPrivateKey)
        defer { sim.signal(SIGKILL) }
        let client = simulatorClient(base)
        let older = try await create(client, merchantRef: TestEnvironment.unique("DEP"))
        let newer = try await create(client, merchantRef: TestEnvironment.unique("DEP"))
        let response = try await CurlClient().send(
            HTTPRequest(
                url: base + "/merchant/transactions?status=UNPAID&method=BRIVA&per_page=10",
                headers: [("Authorization", "Bearer \(simAPIKey)")]))
        #expect(response.status == 200)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        let data = try #require(json["data"] as? [[String: Any]])
        #expect(data.compactMap { $0["reference"] as? String }.prefix(2) == [newer.reference, older.reference])
        #expect(data.first?["expired_at"] is Int && data.first?["created_at"] is Int && data.first?["merchant_ref"] is String)
        let pagination = try #require(json["pagination"] as? [String: Any])
        #expect(pagination["current_page"] as? Int == 1 && pagination["total_records"] as? Int == 2 && pagination["last_page"] as? Int == 1)
    }

    @Test("an unreachable Tripay is a retriable error")
    func unreachable() async throws {
        await #expect {
            _ = try await simulatorClient("http://127.0.0.1:1").paymentChannels()
        } throws: { ($0 as? TripayError)?.isRetriable == true }
    }

    @Test("marking a transaction paid sends a signed callback, resent 3 more times until accepted")
    func callbackResends() async throws {
        let (echo, echoBase) = try await Peers.echoHTTP()
        defer { echo.signal(SIGKILL) }
        // The echo server answers 200 but not {"success": true}: Tripay counts that as a failure.
        let (sim, base) = try await Peers.tripaySimulator(apiKey: simAPIKey, privateKey: simPrivateKey, callbackURL: echoBase + "/callback")
        defer { sim.signal(SIGKILL) }
        let transaction = try await create(simulatorClient(base))
        let marked = try await CurlClient().send(HTTPRequest(method: "POST", url: base + "/_sim/transactions/\(transaction.reference)/pay"))
        #expect(marked.status == 202)
        var attempts: [[String: Any]] = []
        let done = await eventually(timeout: .seconds(10)) {
            let response = try? await CurlClient().send(HTTPRequest(url: base + "/_sim/callbacks?reference=\(transaction.reference)"))
            attempts =
                ((try? JSONSerialization.jsonObject(with: Data(response?.body ?? []))) as? [String: Any])?["data"] as? [[String: Any]] ?? []
            return attempts.count == 4
        }
        #expect(done, "1 send + 3 resends")
        #expect(attempts.allSatisfy { ($0["accepted"] as? Bool) == false && ($0["httpStatus"] as? Int) == 200 })
        let paid = try await simulatorClient(base).transactionDetail(reference: transaction.reference)
        #expect(paid.status == "PAID")
        #expect(paid.paidAt != nil)
    }
}
