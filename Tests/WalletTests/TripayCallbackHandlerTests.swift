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

    func callback(
        _ status: TripayCallback.Status, total: Int64 = 154_250, received: Int64? = 150_000, reference: String? = nil,
        merchantRef: String = "x"
    ) throws -> Envelope<TripayCallbackReceived> {
        let body = TripayCallback(
            reference: reference ?? self.reference, merchantRef: merchantRef, paymentMethod: "BRI Virtual Account",
            paymentMethodCode: "BRIVA",
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

    /// The harness's deposit (its customer has one).
    func status() async throws -> (status: String, flag: String?) {
        let customer = customer
        return try await pool.withConnection {
            guard let row = try $0.query("SELECT status, flag FROM deposits WHERE customer_id = $1", customer).first else {
                throw TestFailure("no deposit for \(customer)")
            }
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

    func flags(_ id: UUID) async throws -> [(flag: String, detail: String)] {
        try await pool.withConnection { try Deposits.flags(id, on: $0) }
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

    @Test("an unknown reference is not consumed: it runs again until its window closes, nothing recorded or credited")
    func unknownReference() async throws {
        let h = CallbackHarness()
        let envelope = try h.callback(.paid)
        guard case .again(_, let deadline, let reason) = try await h.handle(envelope) else {
            Issue.record("an unknown reference was consumed")
            return
        }
        // (The envelope's times travel as whole seconds.)
        #expect(
            abs(deadline.timeIntervalSince(envelope.data.receivedAt.addingTimeInterval(3600))) < 1,
            "the window runs from when the callback arrived")
        #expect(reason.contains(h.reference))
        #expect(try await h.outcomes().isEmpty)
        #expect(try await h.balance() == 0)
        // Not in the inbox: a later delivery runs the rules again.
        let consumer = "armada-payments"
        let id = envelope.id
        #expect(try await h.pool.withConnection { try Inbox.contains(consumer: consumer, messageId: id, on: $0) } == false)
    }

    @Test("a callback for a second Tripay transaction of a deposit is found by its merchant_ref and credits the deposit")
    func unknownReferenceFoundByMerchantRef() async throws {
        let h = CallbackHarness()
        let deposit = try await h.deposit()
        // Tripay made a second transaction for the same merchant_ref, and that one was paid.
        let envelope = try h.callback(.paid, reference: "T0001OTHER" + UUID().uuidString.prefix(8), merchantRef: deposit.merchantRef)
        #expect(try await h.handle(envelope) == .applied(sent: 1))
        #expect(try await h.balance() == 150_000)
        #expect(try await h.status().status == "PAID")
        // And if the first transaction is paid too, the money is flagged for an operator, not credited twice.
        #expect(try await h.handle(h.callback(.paid, merchantRef: deposit.merchantRef)) == .applied(sent: 0))
        #expect(try await h.balance() == 150_000)
        #expect(try await h.flags(deposit.id).map(\.flag) == ["PAID_TWICE"])
    }

    @Test("EXPIRED for another transaction of the deposit's merchant_ref leaves the deposit as it is")
    func otherTransactionExpiredIgnored() async throws {
        let h = CallbackHarness()
        let deposit = try await h.deposit()
        let other = try h.callback(.expired, reference: "T0001OTHER" + UUID().uuidString.prefix(8), merchantRef: deposit.merchantRef)
        #expect(try await h.handle(other) == .applied(sent: 0))
        #expect(try await h.status().status == "PENDING", "its own transaction may still be paid")
        try await h.handle(h.callback(.paid))
        #expect(try await h.balance() == 150_000)
    }

    @Test("the raw callback body is stored byte for byte: spacing, key order and escapes as Tripay sent them")
    func rawBodyByteForByte() async throws {
        let h = CallbackHarness()
        _ = try await h.deposit()
        let raw =
            "{ \"status\" : \"PAID\",\n  \"reference\":\"\(h.reference)\", \"merchant_ref\":\"x\", \"total_amount\": 154250, \"amount_received\":150000, \"note\":\"caf\\u00e9 \u{e9}\", \"paid_at\": \"1764058530\" }"
        let envelope = Envelope(
            id: TripayCallbackReceived.messageID(reference: h.reference, status: "PAID"),
            data: TripayCallbackReceived(rawBody: raw, receivedAt: Date()), occurredAt: Date())
        // Through the wire format and back, as the queue carries it.
        let carried = try MessageCoding.decoder().decode(Envelope<TripayCallbackReceived>.self, from: Data(try envelope.encoded()))
        try await h.handle(carried)
        let reference = h.reference
        let stored = try await h.pool.withConnection {
            try $0.query("SELECT raw_body FROM tripay_callbacks WHERE reference = $1", reference).first?.decode("raw_body", as: String.self)
        }
        #expect(stored.map { Array($0.utf8) } == Array(raw.utf8))
        #expect(try await h.balance() == 150_000)
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

    @Test("EXPIRED and FAILED end a PENDING deposit and emit DEPOSIT_EXPIRED; a later PAID credits it once and alerts an operator")
    func expiredThenPaid() async throws {
        let h = CallbackHarness()
        let deposit = try await h.deposit()
        try await h.handle(h.callback(.expired))
        #expect(try await h.status().status == "EXPIRED")
        #expect(try await h.events(DepositExpired.messageType) == 1)
        try await h.handle(h.callback(.paid))
        #expect(try await h.balance() == 150_000, "money that reached the merchant is credited")
        #expect(try await h.status().status == "PAID")
        #expect(try await h.flags(deposit.id).map(\.flag) == ["PAID_AFTER_EXPIRED"])
        #expect(try await h.events(DepositPaidLate.messageType) == 1)
        #expect(try await h.events(DepositPaid.messageType) == 1)
        #expect(try await h.outcomes() == ["EXPIRED", "PAID_AFTER_CLOSE"])
        // Tripay resends it: credited once.
        try await h.handle(h.callback(.paid))
        #expect(try await h.balance() == 150_000)

        let canceled = CallbackHarness()
        let canceledDeposit = try await canceled.deposit()
        let id = canceledDeposit.id
        _ = try await canceled.pool.withConnection { try $0.execute("UPDATE deposits SET status = 'CANCELED' WHERE id = $1", id) }
        try await canceled.handle(canceled.callback(.paid))
        #expect(try await canceled.balance() == 150_000)
        #expect(try await canceled.flags(id).map(\.flag) == ["PAID_AFTER_CANCELED"])

        let failed = CallbackHarness()
        _ = try await failed.deposit()
        try await failed.handle(failed.callback(.failed))
        #expect(try await failed.status().status == "FAILED")
    }

    @Test("REFUND after PAID is flagged for an operator; the wallet is not debited")
    func refundFlagged() async throws {
        let h = CallbackHarness()
        let deposit = try await h.deposit()
        try await h.handle(h.callback(.paid))
        try await h.handle(h.callback(.refund))
        #expect(try await h.balance() == 150_000)
        let state = try await h.status()
        #expect(state.status == "PAID")
        #expect(state.flag == "REFUNDED_AFTER_PAYMENT")
        #expect(try await h.flags(deposit.id).map(\.flag) == ["REFUNDED_AFTER_PAYMENT"])
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

    @Test("the callback signature matches openssl's HMAC-SHA256 over the same bytes (computed outside the code under test)")
    func opensslVector() async throws {
        let body = #"{"reference":"T0001X","merchant_ref":"DEP-1","status":"PAID","total_amount":154250,"note":"\u00e9 é"}"#
        let key = "test-fake-private-key"
        let file = NSTemporaryDirectory() + "armada-callback-\(UUID().uuidString).json"
        try Data(body.utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let (status, output) = try await ChildProcess.run("/usr/bin/openssl", ["dgst", "-sha256", "-hmac", key, file])
        #expect(status == 0, "\(output)")
        let expected = try #require(output.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(TripaySignature.callback(body: Array(body.utf8), privateKey: key) == expected)
        // And a vector computed once with `printf '%s' '{"reference":"T1","status":"PAID"}' | openssl dgst -sha256 -hmac test-fake-private-key`.
        #expect(
            TripaySignature.callback(body: Array(#"{"reference":"T1","status":"PAID"}"#.utf8), privateKey: key)
                == "ef1b5833abc9ed54cc158a7b326620ac890f2e055e2d745f350411ae83af3ef0")
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
