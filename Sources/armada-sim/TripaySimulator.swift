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
}

struct CallbackAttempt: Codable, Sendable {
    var reference: String
    var status: String
    var attempt: Int
    var httpStatus: Int
    var accepted: Bool
}

actor TripayLedger {
    struct Stored: Sendable {
        var transaction: TripayTransaction
        var callbackURL: String?
        var method: String
        var requestAmount: Int64
    }

    private var transactions: [String: Stored] = [:]
    private var referencesByMerchantRef: [String: String] = [:]
    private(set) var attempts: [CallbackAttempt] = []

    func existing(merchantRef: String) -> Stored? {
        referencesByMerchantRef[merchantRef].flatMap { transactions[$0] }
    }

    func store(_ stored: Stored) {
        transactions[stored.transaction.reference] = stored
        referencesByMerchantRef[stored.transaction.merchantRef] = stored.transaction.reference
    }

    func find(_ reference: String) -> Stored? { transactions[reference] }

    func setStatus(_ reference: String, _ status: String, paidAt: Int64?) -> Stored? {
        guard var stored = transactions[reference] else { return nil }
        stored.transaction.status = status
        stored.transaction.paidAt = paidAt
        transactions[reference] = stored
        return stored
    }

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

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/merchant/payment-channel") { request, _ in
            guard authorized(request) else { return failure(.unauthorized, "Invalid API Key") }
            return respond(.ok, TripayEnvelope(success: true, message: "Success", data: Self.channels))
        }
        router.post("/transaction/create") { request, _ in
            guard authorized(request) else { return failure(.unauthorized, "Invalid API Key") }
            let body = try await request.body.collect(upTo: 1 << 20)
            guard let create = try? JSONDecoder().decode(CreateTransactionRequest.self, from: Data(buffer: body)) else {
                return failure(.badRequest, "Invalid request body")
            }
            return await createTransaction(create)
        }
        router.get("/transaction/detail") { request, _ in
            guard authorized(request) else { return failure(.unauthorized, "Invalid API Key") }
            guard let reference = request.uri.queryParameters.get("reference"), let stored = await ledger.find(reference) else {
                return failure(.badRequest, "Transaction not found")
            }
            return respond(.ok, TripayEnvelope(success: true, message: "Transaction found", data: stored.transaction))
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
            return respond(.accepted, TripayEnvelope(success: true, message: "callback scheduled", data: stored.transaction))
        }
        router.get("/_sim/callbacks") { request, _ in
            let reference = request.uri.queryParameters.get("reference")
            let attempts = await ledger.attempts.filter { reference == nil || $0.reference == reference }
            return respond(.ok, TripayEnvelope(success: true, message: nil, data: attempts))
        }
        router.get("/health") { _, _ in respond(.ok, TripayEnvelope<String>(success: true, message: "ok", data: nil)) }
        return router
    }

    private func createTransaction(_ create: CreateTransactionRequest) async -> Response {
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
        // The same merchant_ref for the same payment returns the transaction made before, which is
        // what lets a caller retry a create whose answer it lost.
        if let existing = await ledger.existing(merchantRef: create.merchantRef) {
            guard existing.method == create.method, existing.requestAmount == create.amount else {
                return failure(.badRequest, "Duplicate merchant_ref")
            }
            return respond(.ok, TripayEnvelope(success: true, message: "", data: existing.transaction))
        }
        let fee = channel.fee(for: create.amount)
        let reference = "T" + settings.merchantCode.filter(\.isNumber) + String((0..<10).map { _ in "0123456789".randomElement()! })
        let transaction = TripayTransaction(
            reference: reference, merchantRef: create.merchantRef, paymentMethod: channel.code, paymentName: channel.name,
            amount: create.amount + fee, feeMerchant: 0, feeCustomer: fee, totalFee: fee, amountReceived: create.amount,
            payCode: channel.type == "DIRECT" && channel.group == "Virtual Account"
                ? String((0..<16).map { _ in "0123456789".randomElement()! }) : nil,
            payURL: nil, checkoutURL: "http://127.0.0.1:\(settings.port)/checkout/\(reference)", status: "UNPAID",
            expiredTime: create.expiredTime, qrString: channel.code.hasPrefix("QRIS") ? "SIMULATED-QR-\(reference)" : nil,
            qrURL: nil, paidAt: nil)
        await ledger.store(
            .init(transaction: transaction, callbackURL: create.callbackURL, method: create.method, requestAmount: create.amount))
        logger.info("transaction created", metadata: ["reference": "\(reference)", "merchant_ref": "\(create.merchantRef)"])
        return respond(.ok, TripayEnvelope(success: true, message: "", data: transaction))
    }

    /// Sends the callback for the transaction's current status; resends until accepted or out of tries.
    func sendCallback(_ stored: TripayLedger.Stored) async {
        let transaction = stored.transaction
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
    respond(status, TripayEnvelope<String>(success: false, message: message, data: nil))
}
