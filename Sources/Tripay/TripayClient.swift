import Curl
import Foundation
import Retriability

/// Where Tripay is and how we sign to it (TRIPAY_* variables).
public struct TripayConfiguration: Sendable {
    /// `https://tripay.co.id/api`, `https://tripay.co.id/api-sandbox`, or a simulator.
    public var baseURL: String
    public var apiKey: String
    public var privateKey: String
    public var merchantCode: String

    public init(baseURL: String, apiKey: String, privateKey: String, merchantCode: String) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        self.privateKey = privateKey
        self.merchantCode = merchantCode
    }
}

/// Why a Tripay call failed, and whether trying again can help.
public enum TripayError: Error, Sendable, RetryClassifiable, CustomStringConvertible, Equatable {
    /// Tripay refused the request (4xx or `success: false`): the same request will be refused again.
    case rejected(status: Int, message: String)
    /// Tripay or the network failed (5xx, 429, timeout, connection): try again later.
    case unavailable(String)

    public var isRetriable: Bool {
        if case .unavailable = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .rejected(let status, let message): return "Tripay rejected the request (\(status)): \(message)"
        case .unavailable(let message): return "Tripay unavailable: \(message)"
        }
    }
}

/// Tripay's merchant API (PROVIDERS.md) over libcurl.
public struct TripayClient: Sendable {
    public let configuration: TripayConfiguration
    private let http: CurlClient

    public init(configuration: TripayConfiguration, http: CurlClient = CurlClient()) {
        self.configuration = configuration
        self.http = http
    }

    public func paymentChannels() async throws -> [PaymentChannel] {
        try await call(
            HTTPRequest(url: configuration.baseURL + "/merchant/payment-channel", headers: authorization), as: [PaymentChannel].self)
    }

    /// Creates a closed payment; the signature over merchant code + merchant ref + amount is added here.
    public func createTransaction(
        method: String, merchantRef: String, amount: Int64, customerName: String, customerEmail: String, customerPhone: String?,
        orderItems: [TripayOrderItem], callbackURL: String?, returnURL: String?, expiresAt: Date
    ) async throws -> TripayTransaction {
        let request = CreateTransactionRequest(
            method: method, merchantRef: merchantRef, amount: amount, customerName: customerName, customerEmail: customerEmail,
            customerPhone: customerPhone, orderItems: orderItems, callbackURL: callbackURL, returnURL: returnURL,
            expiredTime: Int64(expiresAt.timeIntervalSince1970),
            signature: TripaySignature.transaction(
                merchantCode: configuration.merchantCode, merchantRef: merchantRef, amount: amount, privateKey: configuration.privateKey))
        let body = Array(try JSONEncoder().encode(request))
        return try await call(
            HTTPRequest(
                method: "POST", url: configuration.baseURL + "/transaction/create",
                headers: authorization + [("Content-Type", "application/json")], body: body),
            as: TripayTransaction.self)
    }

    public func transactionDetail(reference: String) async throws -> TripayTransaction {
        var components = URLComponents(string: configuration.baseURL + "/transaction/detail")!
        components.queryItems = [URLQueryItem(name: "reference", value: reference)]
        return try await call(HTTPRequest(url: components.string!, headers: authorization), as: TripayTransaction.self)
    }

    /// Every transaction Tripay holds for `merchantRef` (`GET /merchant/transactions`, all pages,
    /// oldest first): how a caller finds out whether a create already reached Tripay.
    public func transactions(merchantRef: String, perPage: Int = 50, maxPages: Int = 20) async throws -> [TripayTransaction] {
        var found: [TripayTransaction] = []
        var page = 1
        while page <= maxPages {
            var components = URLComponents(string: configuration.baseURL + "/merchant/transactions")!
            components.queryItems = [
                URLQueryItem(name: "merchant_ref", value: merchantRef), URLQueryItem(name: "page", value: "\(page)"),
                URLQueryItem(name: "per_page", value: "\(perPage)"), URLQueryItem(name: "sort", value: "asc"),
            ]
            let (items, pagination) = try await callPage(HTTPRequest(url: components.string!, headers: authorization))
            // Tripay filters by merchant_ref; a list that does not is not trusted blindly.
            found += items.filter { $0.merchantRef == merchantRef }
            guard let pagination, pagination.currentPage < pagination.lastPage else { break }
            page += 1
        }
        return found
    }

    private var authorization: [(name: String, value: String)] {
        [("Authorization", "Bearer \(configuration.apiKey)"), ("Accept", "application/json")]
    }

    private func call<T: Codable & Sendable>(_ request: HTTPRequest, as type: T.Type) async throws -> T {
        try await envelope(request, as: type).data
    }

    private func callPage(_ request: HTTPRequest) async throws -> ([TripayTransaction], TripayPagination?) {
        let (data, pagination) = try await envelope(request, as: [TripayTransaction].self)
        return (data, pagination)
    }

    private func envelope<T: Codable & Sendable>(_ request: HTTPRequest, as type: T.Type) async throws -> (
        data: T, pagination: TripayPagination?
    ) {
        let response: HTTPResponse
        do {
            response = try await http.send(request)
        } catch let error as CurlError {
            throw error.isRetriable
                ? TripayError.unavailable(error.description) : TripayError.rejected(status: 0, message: error.description)
        }
        let envelope = try? JSONDecoder().decode(TripayEnvelope<T>.self, from: Data(response.body))
        if response.isRetriableStatus {
            throw TripayError.unavailable(
                "HTTP \(response.status): \(envelope?.message ?? String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
        guard let envelope else {
            throw TripayError.unavailable("HTTP \(response.status): response is not Tripay's JSON")
        }
        guard response.status < 400, envelope.success, let data = envelope.data else {
            throw TripayError.rejected(status: response.status, message: envelope.message ?? "no message")
        }
        return (data, envelope.pagination)
    }
}
