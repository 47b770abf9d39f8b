import ArmadaTestSupport
import Foundation
import Logging
import Messaging
import Postgres
import Testing
import Tripay
import WalletContracts

@testable import Wallet

/// Runs the handler exactly as the payments consumer does (inbox + effects + outbox, one transaction).
struct CallbackHarness {
    let pool = TestDatabase.pool(size: 4, name: "callback-tests")
    let customer = TestEnvironment.unique("cust")
    let reference = "T0001" + UUID().uuidString.prefix(10).uppercased()

    func deposit(amount: Int64 = 150_000, fee: Int64 = 4_250) async throws -> Deposit {
        let (customer, reference) = (customer, reference)
        return try await pool.transaction {
            try Deposits.insert(
                NewDeposit(
                    id: UUID(), customerId: customer, amount: amount, fee: fee, method: "BRIVA", reference: reference,
                    expiresAt: Date().addingTimeInterval(86_400)),
                on: $0)!
        }
    }

    func callback(_ status: TripayCallback.Status, total: Int64 = 154_250, received: Int64? = 150_000, reference: String? = nil) throws
        -> Envelope<TripayCallbackReceived>
    {
        let body = TripayCallback(
            reference: reference ?? self.reference, merchantRef: "x", paymentMethod: "BRI Virtual Account", paymentMethodCode: "BRIVA",
            totalAmount: total, feeMerchant: 0, feeCustomer: 4_250, totalFee: 4_250, amountReceived: received, status: status,
            paidAt: status == .paid ? 1_764_058_530 : nil)
        let raw = String(decoding: try JSONEncoder().encode(body), as: UTF8.self)
        return Envelope(
            id: TripayCallbackReceived.messageID(reference: body.reference, status: status.rawValue),
            data: TripayCallbackReceived(rawBody: raw, receivedAt: Date()), occurredAt: Date(), correlationId: body.reference)
    }

    @discardableResult
    func handle(_ envelope: Envelope<TripayCallbackReceived>) async throws -> AtomicPhase.Outcome {
        try await AtomicPhase.run(TripayCallbackHandler(), envelope, consumer: "armada-payments", pool: pool, logger: Logger(label: "t"))
    }

    func balance() async throws -> Int64 {
        let customer = customer
        return try await pool.withConnection { try Ledger.balance(of: customer, on: $0) }
    }

    func status() async throws -> (status: String, flag: String?) {
        let reference = reference
        return try await pool.withConnection {
            let row = try $0.query("SELECT status, flag FROM deposits WHERE reference = $1", reference).first!
            return (try row.decode("status"), try row.decode("flag"))
        }
    }

    func outcomes() async throws -> [String] {
        let reference = reference
        return try await pool.withConnection {
            try $0.query("SELECT outcome FROM tripay_callbacks WHERE reference = $1 ORDER BY id", reference).map {
                try $0.decode("outcome")
            }
        }
    }

    func events(_ type: String) async throws -> Int {
        let reference = reference
        return try await pool.withConnection {
            try $0.query("SELECT count(*)::int AS n FROM outbox WHERE message_type = $1 AND body LIKE '%' || $2 || '%'", type, reference)
                .first!.decode("n")
        }
    }
}

@Suite("Tripay callback rules (DOMAIN.md: Deposits)")
struct TripayCallbackHandlerTests {
    @Test("PAID for a PENDING deposit marks it PAID, credits the amount once and emits DEPOSIT_PAID")
    func paidCredits() async throws {
        let h = CallbackHarness()
        let deposit = try await h.deposit()
        #expect(try await h.handle(h.callback(.paid)) == .applied(sent: 1))
        #expect(try await h.balance() == deposit.amount, "credited the amount, not the total paid")
        #expect(try await h.status().status == "PAID")
        #expect(try await h.outcomes() == ["CREDITED"])
        #expect(try await h.events(DepositPaid.messageType) == 1)
        let entry = try await h.pool.withConnection {
            try Ledger.entry(reference: .deposit, referenceId: deposit.id.uuidString.lowercased(), on: $0)
        }
        #expect(entry?.amount == 150_000)
    }

    @Test("the same PAID callback again credits nothing (inbox), and a PAID for a PAID deposit neither")
    func duplicatePaid() async throws {
        let h = CallbackHarness()
        _ = try await h.deposit()
        let callback = try h.callback(.paid)
        try await h.handle(callback)
        #expect(try await h.handle(callback) == .duplicate)
        // A different message about the same payment (a reconcile, a manual replay) is guarded by the state.
        var other = callback
        other.id = UUID()
        try await h.handle(other)
        #expect(try await h.balance() == 150_000)
        #expect(try await h.outcomes() == ["CREDITED", "ALREADY_PAID"])
    }

    @Test("an unknown reference is recorded and acknowledged, nothing credited")
    func unknownReference() async throws {
        let h = CallbackHarness()
        #expect(try await h.handle(h.callback(.paid)) == .applied(sent: 0))
        #expect(try await h.outcomes() == ["UNKNOWN_REFERENCE"])
        #expect(try await h.balance() == 0)
    }

    @Test("a total_amount that differs from the deposit is flagged, never credited")
    func amountMismatch() async throws {
        let h = CallbackHarness()
        _ = try await h.deposit()
        try await h.handle(h.callback(.paid, total: 10_000))
        #expect(try await h.balance() == 0)
        let state = try await h.status()
        #expect(state.status == "PENDING")
        #expect(state.flag?.hasPrefix("AMOUNT_MISMATCH") == true)
        #expect(try await h.outcomes() == ["AMOUNT_MISMATCH"])
    }

    @Test("an amount_received above the total is flagged, never credited")
    func receivedMismatch() async throws {
        let h = CallbackHarness()
        _ = try await h.deposit()
        try await h.handle(h.callback(.paid, received: 999_999))
        #expect(try await h.balance() == 0)
        #expect(try await h.outcomes() == ["AMOUNT_MISMATCH"])
    }

    @Test("EXPIRED and FAILED end a PENDING deposit and emit DEPOSIT_EXPIRED; a later PAID is flagged, not credited")
    func expiredThenPaid() async throws {
        let h = CallbackHarness()
        _ = try await h.deposit()
        try await h.handle(h.callback(.expired))
        #expect(try await h.status().status == "EXPIRED")
        #expect(try await h.events(DepositExpired.messageType) == 1)
        try await h.handle(h.callback(.paid))
        #expect(try await h.balance() == 0)
        #expect(try await h.status().flag == "PAID_AFTER_EXPIRED")
        #expect(try await h.outcomes() == ["EXPIRED", "PAID_AFTER_CLOSE"])

        let failed = CallbackHarness()
        _ = try await failed.deposit()
        try await failed.handle(failed.callback(.failed))
        #expect(try await failed.status().status == "FAILED")
    }

    @Test("REFUND after PAID is flagged for an operator; the wallet is not debited")
    func refundFlagged() async throws {
        let h = CallbackHarness()
        _ = try await h.deposit()
        try await h.handle(h.callback(.paid))
        try await h.handle(h.callback(.refund))
        #expect(try await h.balance() == 150_000)
        let state = try await h.status()
        #expect(state.status == "PAID")
        #expect(state.flag == "REFUNDED_AFTER_PAYMENT")
        #expect(try await h.outcomes() == ["CREDITED", "REFUND_FLAGGED"])
    }
}

@Suite("Tripay signatures")
struct TripaySignatureTests {
    @Test("transaction signature matches the known vector from Tripay's documentation")
    func knownVector() {
        #expect(
            TripaySignature.transaction(
                merchantCode: "T0001", merchantRef: "INV55567", amount: 1_500_000, privateKey: "ytf6ooi2gmlNPfpchd94jDOk8hRWOu")
                == "9f167eba844d1fcb369404e2bda53702e2f78f7aa12e91da6715414e65b8c86a")
    }

    @Test("a callback signature verifies over the exact bytes and nothing else")
    func callbackSignature() {
        let body = Array(#"{"reference":"T1","status":"PAID"}"#.utf8)
        let key = "test-fake-private-key"
        let signature = TripaySignature.callback(body: body, privateKey: key)
        #expect(signature.count == 64)
        #expect(TripaySignature.isValidCallback(body: body, signature: signature, privateKey: key))
        #expect(TripaySignature.isValidCallback(body: body, signature: signature.uppercased(), privateKey: key))
        #expect(!TripaySignature.isValidCallback(body: body + [0x20], signature: signature, privateKey: key), "one more byte")
        #expect(!TripaySignature.isValidCallback(body: body, signature: signature, privateKey: key + "x"))
        #expect(!TripaySignature.isValidCallback(body: body, signature: String(signature.dropLast(2)), privateKey: key))
        #expect(!TripaySignature.isValidCallback(body: body, signature: "zz" + signature.dropFirst(2), privateKey: key))
        #expect(!TripaySignature.isValidCallback(body: body, signature: "", privateKey: key))
    }

    @Test("paid_at is accepted as a number, a numeric string or null")
    func paidAtShapes() throws {
        func decode(_ paidAt: String) throws -> TripayCallback {
            try TripayCallback.decode(Array(#"{"reference":"T1","total_amount":1000,"status":"PAID","paid_at":\#(paidAt)}"#.utf8))
        }
        #expect(try decode("1764058530").paidAt == 1_764_058_530)
        #expect(try decode(#""1764058530""#).paidAt == 1_764_058_530)
        #expect(try decode("null").paidAt == nil)
    }
}
