import Curl
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Tripay

/// A Tripay merchant API on loopback that speaks PROVIDERS.md's wire format: for tests and the
/// local stack, never for production.
///
/// It checks the bearer API key and the transaction signature as Tripay does, keeps transactions
/// in memory, and, when told to mark one paid, expired or failed (`POST /_sim/...`), sends the
/// signed `payment_status` callback, resending like Tripay (`callbackRetries` more times,
/// `callbackInterval` apart) until it gets a JSON body with `"success": true`.
struct SimulatorSettings: Sendable {
    var port: Int
    var apiKey: String
    var privateKey: String
    var merchantCode: String
    var callbackURL: String
    var callbackRetries: Int
    var callbackInterval: Duration
    /// Off by default, as Tripay promises no deduplication: a repeated `merchant_ref` creates a
    /// second payable transaction. On, a repeat with the same method and amount returns the first.
    var dedupeMerchantRef = false
}

extension SimulatorSettings {
    /// SIM_TRIPAY_PORT, TRIPAY_API_KEY, TRIPAY_PRIVATE_KEY, TRIPAY_MERCHANT_CODE, SIM_TRIPAY_CALLBACK_URL,
    /// SIM_TRIPAY_CALLBACK_RETRIES, SIM_TRIPAY_CALLBACK_INTERVAL_SECONDS, SIM_TRIPAY_DEDUPE_MERCHANT_REF (README).
    init(environment: [String: String]) {
        self.init(

            port: Int(environment["SIM_TRIPAY_PORT"] ?? "") ?? 8091,
            apiKey: environment["TRIPAY_API_KEY"] ?? "DEV-fake-tripay-api-key",
            privateKey: environment["TRIPAY_PRIVATE_KEY"] ?? "dev-fake-tripay-private-key",
            merchantCode: environment["TRIPAY_MERCHANT_CODE"] ?? "T0001",
            callbackURL: environment["SIM_TRIPAY_CALLBACK_URL"] ?? "http://127.0.0.1:8080/api/v1/webhooks/tripay",
            callbackRetries: Int(environment["SIM_TRIPAY_CALLBACK_RETRIES"] ?? "") ?? 3,
            callbackInterval: .milliseconds(Int((Double(environment["SIM_TRIPAY_CALLBACK_INTERVAL_SECONDS"] ?? "") ?? 120) * 1000)),
            dedupeMerchantRef: environment["SIM_TRIPAY_DEDUPE_MERCHANT_REF"] == "1")
    }
}

/// `POST /transaction/create`'s body as Tripay reads it: the simulator's own wire type, so a
/// key the client spells wrong fails here as it would at Tripay.
struct SimCreateRequest: Decodable, Sendable {
    struct Item: Decodable, Sendable {
        var sku: String?
        var name: String
        var price: Int64
        var quantity: Int
    }
    var method: String
    var merchantRef: String
    var amount: Int64
    var customerName: String
    var customerEmail: String
    var customerPhone: String?
    var orderItems: [Item]
    var callbackURL: String?
    var returnURL: String?
    var expiredTime: Int64
    var signature: String

    enum CodingKeys: String, CodingKey {
        case method, amount, signature
        case merchantRef = "merchant_ref"
        case customerName = "customer_name"
        case customerEmail = "customer_email"
        case customerPhone = "customer_phone"
        case orderItems = "order_items"
        case callbackURL = "callback_url"
        case returnURL = "return_url"
        case expiredTime = "expired_time"
    }
}

/// A transaction as Tripay answers it (create, detail, the merchant's list).
struct SimTransaction: Encodable, Sendable {
    var reference: String
    var merchantRef: String
    var paymentMethod: String
    var paymentName: String
    var customerName: String
    var customerEmail: String
    var amount: Int64
    var feeMerchant: Int64
    var feeCustomer: Int64
    var totalFee: Int64
    var amountReceived: Int64
    var payCode: String?
    var payURL: String?
    var checkoutURL: String
    var status: String
    var createdAt: Int64
    var expiredTime: Int64
    var paidAt: Int64?
    var qrString: String?
    var qrURL: String?

    enum CodingKeys: String, CodingKey {
        case reference, amount, status
        case merchantRef = "merchant_ref"
        case paymentMethod = "payment_method"
        case paymentName = "payment_name"
        case customerName = "customer_name"
        case customerEmail = "customer_email"
        case feeMerchant = "fee_merchant"
        case feeCustomer = "fee_customer"
        case totalFee = "total_fee"
        case amountReceived = "amount_received"
        case payCode = "pay_code"
        case payURL = "pay_url"
        case checkoutURL = "checkout_url"
        case createdAt = "created_at"
        case expiredTime = "expired_time"
        case expiredAt = "expired_at"
        case paidAt = "paid_at"
        case qrString = "qr_string"
        case qrURL = "qr_url"
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(reference, forKey: .reference)
        try c.encode(merchantRef, forKey: .merchantRef)
        try c.encode(paymentMethod, forKey: .paymentMethod)
        try c.encode(paymentName, forKey: .paymentName)
        try c.encode(customerName, forKey: .customerName)
        try c.encode(customerEmail, forKey: .customerEmail)
        try c.encode(amount, forKey: .amount)
        try c.encode(feeMerchant, forKey: .feeMerchant)
        try c.encode(feeCustomer, forKey: .feeCustomer)
        try c.encode(totalFee, forKey: .totalFee)
        try c.encode(amountReceived, forKey: .amountReceived)
        try c.encode(payCode, forKey: .payCode)
        try c.encode(payURL, forKey: .payURL)
        try c.encode(checkoutURL, forKey: .checkoutURL)
        try c.encode(status, forKey: .status)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(expiredTime, forKey: .expiredTime)
        try c.encode(expiredTime, forKey: .expiredAt)
        try c.encode(paidAt, forKey: .paidAt)
        try c.encode(qrString, forKey: .qrString)
        try c.encode(qrURL, forKey: .qrURL)
    }

    /// UNPAID past its expiry is EXPIRED, as at Tripay.
    func current(at now: Int64) -> SimTransaction {
        var copy = self
        if copy.status == "UNPAID" && now >= expiredTime { copy.status = "EXPIRED" }
        return copy
    }
}

struct SimPagination: Encodable, Sendable {
    var currentPage: Int
    var lastPage: Int
    var perPage: Int
    var totalRecords: Int

    enum CodingKeys: String, CodingKey {
        case currentPage = "current_page"
        case lastPage = "last_page"
        case perPage = "per_page"
        case totalRecords = "total_records"
    }
}

struct SimList: Encodable, Sendable {
    var success = true
    var message = "Success"
    var data: [SimTransaction]
    var pagination: SimPagination
}

struct CallbackAttempt: Codable, Sendable {
    var reference: String
    var status: String
    var attempt: Int
    var httpStatus: Int
    var accepted: Bool
}

/// Scripted faults (`POST /_sim/faults`, every field optional; `DELETE /_sim/faults` clears them).
/// Counters apply to the next matching requests; Tripay promises none of these never happen.
struct TripaySimFaults: Codable, Sendable {
    /// The next N merchant API requests answer 500.
    var serverErrors: Int?
    /// The next N merchant API requests answer 429.
    var rateLimited: Int?
    /// The next N creates make the transaction but answer 504 with an HTML page: the response is lost.
    var lostCreateResponses: Int?
    /// Every merchant API response waits this long first.
    var delaySeconds: Double?
    /// The next N callbacks are never sent (every attempt lost on the way): only reconciliation finds them.
    var droppedCallbacks: Int?
}

actor TripayLedger {
    private(set) var faults = TripaySimFaults()

    func setFaults(_ new: TripaySimFaults?) {
        guard let new else {
            faults = TripaySimFaults()
            return
        }
        if let n = new.serverErrors { faults.serverErrors = n }
        if let n = new.rateLimited { faults.rateLimited = n }
        if let n = new.lostCreateResponses { faults.lostCreateResponses = n }
        if let n = new.delaySeconds { faults.delaySeconds = n }
        if let n = new.droppedCallbacks { faults.droppedCallbacks = n }
    }

    /// Takes one from a counter; true when a fault applies.
    func take(_ counter: WritableKeyPath<TripaySimFaults, Int?>) -> Bool {
        guard let left = faults[keyPath: counter], left != 0 else { return false }
        if left > 0 { faults[keyPath: counter] = left - 1 }
        return true
    }

    struct Stored: Sendable {
        var transaction: SimTransaction
        var callbackURL: String?
        var method: String
        var requestAmount: Int64
    }

    private var transactions: [String: Stored] = [:]
    /// In creation order, as the merchant list pages them.
    private var order: [String] = []
    private(set) var attempts: [CallbackAttempt] = []
    /// Extra fee the simulator adds for a channel (`/_sim/settings`): a merchant-side fee
    /// configuration change the caller must notice.
    private(set) var feeSurcharges: [String: Int64] = [:]

    func first(merchantRef: String) -> Stored? {
        order.lazy.compactMap { self.transactions[$0] }.first { $0.transaction.merchantRef == merchantRef }
    }

    func store(_ stored: Stored) {
        transactions[stored.transaction.reference] = stored
        order.append(stored.transaction.reference)
    }

    func find(_ reference: String) -> Stored? { transactions[reference] }

    func all() -> [Stored] { order.compactMap { transactions[$0] } }

    func setStatus(_ reference: String, _ status: String, paidAt: Int64?) -> Stored? {
        guard var stored = transactions[reference] else { return nil }
        stored.transaction.status = status
        stored.transaction.paidAt = paidAt
        transactions[reference] = stored
        return stored
    }

    func setSurcharge(_ amount: Int64, channel: String) { feeSurcharges[channel] = amount }

    func record(_ attempt: CallbackAttempt) { attempts.append(attempt) }
}

struct TripaySimulator: Sendable {
    let settings: SimulatorSettings
    let ledger = TripayLedger()
    let http = CurlClient()
    let logger: Logger

    static let channels: [PaymentChannel] = [
        PaymentChannel(
            group: "Virtual Account", code: "BRIVA", name: "BRI Virtual Account", feeCustomer: TripayFee(flat: 4_250, percent: 0),
            totalFee: TripayFee(flat: 4_250, percent: 0), minimumAmount: 10_000, maximumAmount: 100_000_000),
        PaymentChannel(
            group: "Virtual Account", code: "BCAVA", name: "BCA Virtual Account", feeCustomer: TripayFee(flat: 5_500, percent: 0),
            totalFee: TripayFee(flat: 5_500, percent: 0), minimumAmount: 10_000, maximumAmount: 100_000_000),
        PaymentChannel(
            group: "E-Wallet", code: "QRIS2", name: "QRIS", feeCustomer: TripayFee(flat: 750, percent: 0.7),
            totalFee: TripayFee(flat: 750, percent: 0.7), minimumFee: 1_000, maximumFee: 50_000, minimumAmount: 10_000,
            maximumAmount: 5_000_000),
        PaymentChannel(
            group: "E-Wallet", code: "OVO", name: "OVO", feeCustomer: TripayFee(flat: 0, percent: 3),
            totalFee: TripayFee(flat: 0, percent: 3), minimumAmount: 10_000, maximumAmount: 2_000_000, active: false),
    ]

    /// The scripted faults for one merchant API request: a delay, then a 500 or a 429, or nil.
    private func faulted() async -> Response? {
        if let delay = await ledger.faults.delaySeconds, delay > 0 { try? await Task.sleep(for: .milliseconds(Int(delay * 1000))) }
        if await ledger.take(\.serverErrors) { return failure(.internalServerError, "Internal Server Error") }
        if await ledger.take(\.rateLimited) { return failure(.tooManyRequests, "Too Many Requests") }
        return nil
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/merchant/payment-channel") { request, _ in
            guard authorized(request) else { return failure(.unauthorized, "Invalid API Key") }
            if let fault = await faulted() { return fault }
            return respond(.ok, SimEnvelope(success: true, message: "Success", data: Self.channels))
        }
        router.post("/transaction/create") { request, _ in
            guard authorized(request) else { return failure(.unauthorized, "Invalid API Key") }
            let body = try await request.body.collect(upTo: 1 << 20)
            let create: SimCreateRequest
            do {
                create = try JSONDecoder().decode(SimCreateRequest.self, from: Data(buffer: body))
            } catch {
                return failure(.badRequest, "Invalid request body: \(error)")
            }
            if let fault = await faulted() { return fault }
            let created = await createTransaction(create)
            if created.status == .ok, await ledger.take(\.lostCreateResponses) {
                return Response(
                    status: .gatewayTimeout, headers: [.contentType: "text/html"],
                    body: .init(byteBuffer: ByteBuffer(string: "<html><body><h1>504 Gateway Time-out</h1></body></html>")))
            }
            return created
        }
        router.get("/transaction/detail") { request, _ in
            guard authorized(request) else { return failure(.unauthorized, "Invalid API Key") }
            if let fault = await faulted() { return fault }
            guard let reference = request.uri.queryParameters.get("reference"), let stored = await ledger.find(reference) else {
                return failure(.badRequest, "Transaction not found")
            }
            return respond(.ok, SimEnvelope(success: true, message: "Transaction found", data: stored.transaction.current(at: now())))
        }
        router.get("/merchant/transactions") { request, _ in
            guard authorized(request) else { return failure(.unauthorized, "Invalid API Key") }
            if let fault = await faulted() { return fault }
            return await list(request)
        }
        router.post("/_sim/faults") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 16)
            guard let faults = try? JSONDecoder().decode(TripaySimFaults.self, from: Data(buffer: body)) else {
                return failure(
                    .badRequest, "body must be a fault: serverErrors, rateLimited, lostCreateResponses, delaySeconds, droppedCallbacks")
            }
            await ledger.setFaults(faults)
            return respond(.ok, SimEnvelope(success: true, message: "ok", data: await ledger.faults))
        }
        router.delete("/_sim/faults") { _, _ in
            await ledger.setFaults(nil)
            return respond(.ok, SimEnvelope<String>(success: true, message: "ok", data: nil))
        }
        router.post("/_sim/settings") { request, _ in
            let query = request.uri.queryParameters
            guard let channel = query.get("fee_surcharge_channel"), let amount = query.get("fee_surcharge").flatMap(Int64.init) else {
                return failure(.badRequest, "fee_surcharge_channel and fee_surcharge are required")
            }
            await ledger.setSurcharge(amount, channel: channel)
            return respond(.ok, SimEnvelope<String>(success: true, message: "ok", data: nil))
        }
        router.post("/_sim/transactions/:reference/:action") { request, context in
            let reference = try context.parameters.require("reference")
            let action = try context.parameters.require("action")
            let statuses = ["pay": "PAID", "expire": "EXPIRED", "fail": "FAILED", "refund": "REFUND"]
            guard let status = statuses[action] else { return failure(.badRequest, "action must be pay, expire, fail or refund") }
            let paidAt = status == "PAID" ? Int64(Date().timeIntervalSince1970) : nil
            guard let stored = await ledger.setStatus(reference, status, paidAt: status == "REFUND" ? nil : paidAt) else {
                return failure(.notFound, "Transaction not found")
            }
            // ?callback=false changes the state without calling back: a callback Tripay gave up on.
            if request.uri.queryParameters.get("callback") != "false" {
                let simulator = self
                Task { await simulator.sendCallback(stored) }
            }
            return respond(.accepted, SimEnvelope(success: true, message: "callback scheduled", data: stored.transaction))
        }
        router.get("/_sim/callbacks") { request, _ in
            let reference = request.uri.queryParameters.get("reference")
            let attempts = await ledger.attempts.filter { reference == nil || $0.reference == reference }
            return respond(.ok, SimEnvelope(success: true, message: nil, data: attempts))
        }
        router.get("/health") { _, _ in respond(.ok, SimEnvelope<String>(success: true, message: "ok", data: nil)) }
        return router
    }

    private func createTransaction(_ create: SimCreateRequest) async -> Response {
        let expected = TripaySignature.transaction(
            merchantCode: settings.merchantCode, merchantRef: create.merchantRef, amount: create.amount, privateKey: settings.privateKey)
        guard create.signature.lowercased() == expected else { return failure(.badRequest, "Invalid signature") }
        guard let channel = Self.channels.first(where: { $0.code == create.method }), channel.active else {
            return failure(.badRequest, "Payment channel is not enabled")
        }
        if let minimum = channel.minimumAmount, create.amount < minimum {
            return failure(.badRequest, "Minimum amount for \(channel.code) is \(minimum)")
        }
        if let maximum = channel.maximumAmount, create.amount > maximum {
            return failure(.badRequest, "Maximum amount for \(channel.code) is \(maximum)")
        }
        guard create.orderItems.reduce(0, { $0 + $1.price * Int64($1.quantity) }) == create.amount else {
            return failure(.badRequest, "Total price of order items does not match the amount")
        }
        if settings.dedupeMerchantRef, let existing = await ledger.first(merchantRef: create.merchantRef),
            existing.method == create.method, existing.requestAmount == create.amount
        {
            return respond(.ok, SimEnvelope(success: true, message: "", data: existing.transaction.current(at: now())))
        }
        let fee = channel.customerFee(for: create.amount) + (await ledger.feeSurcharges[channel.code] ?? 0)
        let reference = "T" + settings.merchantCode.filter(\.isNumber) + String((0..<10).map { _ in "0123456789".randomElement()! })
        let transaction = SimTransaction(
            reference: reference, merchantRef: create.merchantRef, paymentMethod: channel.code, paymentName: channel.name,
            customerName: create.customerName, customerEmail: create.customerEmail, amount: create.amount + fee, feeMerchant: 0,
            feeCustomer: fee, totalFee: fee, amountReceived: create.amount,
            payCode: channel.group == "Virtual Account" ? String((0..<16).map { _ in "0123456789".randomElement()! }) : nil,
            payURL: nil, checkoutURL: "http://127.0.0.1:\(settings.port)/checkout/\(reference)", status: "UNPAID", createdAt: now(),
            expiredTime: create.expiredTime, paidAt: nil, qrString: channel.code.hasPrefix("QRIS") ? "SIMULATED-QR-\(reference)" : nil,
            qrURL: nil)
        await ledger.store(
            .init(transaction: transaction, callbackURL: create.callbackURL, method: create.method, requestAmount: create.amount))
        logger.info("transaction created", metadata: ["reference": "\(reference)", "merchant_ref": "\(create.merchantRef)"])
        return respond(.ok, SimEnvelope(success: true, message: "", data: transaction))
    }

    /// `GET /merchant/transactions`: filters `reference`, `merchant_ref`, `method`, `status`;
    /// `sort` asc or desc (by creation, default desc); `page` from 1; `per_page` 1 to 100 (25).
    private func list(_ request: Request) async -> Response {
        let query = request.uri.queryParameters
        let time = now()
        var items = await ledger.all().map { $0.transaction.current(at: time) }
        if let reference = query.get("reference") { items = items.filter { $0.reference == reference } }
        if let merchantRef = query.get("merchant_ref") { items = items.filter { $0.merchantRef == merchantRef } }
        if let method = query.get("method") { items = items.filter { $0.paymentMethod == method } }
        if let status = query.get("status") { items = items.filter { $0.status == status } }
        if query.get("sort") != "asc" { items.reverse() }
        let perPage = min(100, max(1, query.get("per_page").flatMap(Int.init) ?? 25))
        let lastPage = max(1, (items.count + perPage - 1) / perPage)
        let page = min(max(1, query.get("page").flatMap(Int.init) ?? 1), lastPage)
        let slice = Array(items.dropFirst((page - 1) * perPage).prefix(perPage))
        return respond(
            .ok,
            SimList(
                data: slice,
                pagination: SimPagination(currentPage: page, lastPage: lastPage, perPage: perPage, totalRecords: items.count)))
    }

    /// Sends the callback for the transaction's current status; resends until accepted or out of tries.
    func sendCallback(_ stored: TripayLedger.Stored) async {
        let transaction = stored.transaction
        if await ledger.take(\.droppedCallbacks) {
            logger.info("callback dropped (scripted fault)", metadata: ["reference": "\(transaction.reference)"])
            return
        }
        let body: [String: Any] = [
            "reference": transaction.reference, "merchant_ref": transaction.merchantRef,
            "payment_method": transaction.paymentName ?? transaction.paymentMethod, "payment_method_code": transaction.paymentMethod,
            "total_amount": transaction.amount, "fee_merchant": transaction.feeMerchant, "fee_customer": transaction.feeCustomer,
            "total_fee": transaction.totalFee, "amount_received": transaction.amountReceived, "is_closed_payment": 1,
            "status": transaction.status, "paid_at": transaction.paidAt.map { $0 as Any } ?? NSNull(), "note": NSNull(),
        ]
        let bytes = Array((try? JSONSerialization.data(withJSONObject: body)) ?? Data())
        let signature = TripaySignature.callback(body: bytes, privateKey: settings.privateKey)
        let url = stored.callbackURL ?? settings.callbackURL
        for attempt in 1...(1 + settings.callbackRetries) {
            var status = 0
            var accepted = false
            if let response = try? await http.send(
                Curl.HTTPRequest(
                    method: "POST", url: url,
                    headers: [
                        ("Content-Type", "application/json"), ("X-Callback-Event", "payment_status"), ("X-Callback-Signature", signature),
                    ], body: bytes, timeout: 10))
            {
                status = response.status
                let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
                accepted = response.status == 200 && (json?["success"] as? Bool) == true
            }
            await ledger.record(
                CallbackAttempt(
                    reference: transaction.reference, status: transaction.status, attempt: attempt, httpStatus: status, accepted: accepted))
            logger.info(
                "callback sent",
                metadata: [
                    "reference": "\(transaction.reference)", "attempt": "\(attempt)", "http_status": "\(status)", "accepted": "\(accepted)",
                ])
            if accepted { return }
            if attempt <= settings.callbackRetries { try? await Task.sleep(for: settings.callbackInterval) }
        }
    }

    private func authorized(_ request: Request) -> Bool {
        request.headers[.authorization] == "Bearer \(settings.apiKey)"
    }
}

private func respond<T: Encodable>(_ status: HTTPResponse.Status, _ value: T) -> Response {
    let data = (try? JSONEncoder().encode(value)) ?? Data("{}".utf8)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

private func failure(_ status: HTTPResponse.Status, _ message: String) -> Response {
    respond(status, SimEnvelope<String>(success: false, message: message, data: nil))
}

private func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

struct SimEnvelope<Payload: Encodable & Sendable>: Encodable, Sendable {
    var success: Bool
    var message: String?
    var data: Payload?
}
