import ArmadaTestSupport
import Curl
import Foundation
import Postgres
import Tripay
import WalletContracts

@testable import Wallet

/// Creates transactions at the simulator directly and reads its callback log.
struct TripayTestClient {
    let base: String

    func create(amount: Int64) async throws -> TripayTransaction {
        try await TripayClient(
            configuration: TripayConfiguration(baseURL: base, apiKey: testTripayAPIKey, privateKey: testTripayKey, merchantCode: "T0001")
        )
        .createTransaction(
            method: "BRIVA", merchantRef: TestEnvironment.unique("DEP"), amount: amount, customerName: "t", customerEmail: "t@example.test",
            customerPhone: nil, orderItems: [TripayOrderItem(sku: "T", name: "t", price: amount, quantity: 1)], callbackURL: nil,
            returnURL: nil,
            expiresAt: Date().addingTimeInterval(3600))
    }

    struct Attempt: Decodable {
        var attempt: Int
        var httpStatus: Int
        var accepted: Bool
    }

    func attempts(_ reference: String) async throws -> [Attempt] {
        struct Wrapper: Decodable { var data: [Attempt] }
        let response = try await CurlClient().send(HTTPRequest(url: base + "/_sim/callbacks?reference=\(reference)"))
        return try JSONDecoder().decode(Wrapper.self, from: Data(response.body)).data.sorted { $0.attempt < $1.attempt }
    }
}

enum WalletDeposits {
    /// A PENDING deposit of 150,000 + 4,250 fee matching a simulator transaction.
    static func insert(customer: String, reference: String, on connection: PGConnection) throws -> Deposit {
        try Deposits.insert(
            NewDeposit(
                id: UUID(), customerId: customer, amount: 150_000, fee: 4_250, method: "BRIVA", reference: reference,
                expiresAt: Date().addingTimeInterval(3600)),
            on: connection)!
    }
}
