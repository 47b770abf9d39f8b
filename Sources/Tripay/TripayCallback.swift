import Foundation

/// The body Tripay POSTs to our callback URL (PROVIDERS.md).
public struct TripayCallback: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case paid = "PAID", expired = "EXPIRED", failed = "FAILED", refund = "REFUND"
    }

    public var reference: String
    public var merchantRef: String?
    public var paymentMethod: String?
    public var paymentMethodCode: String?
    public var totalAmount: Int64
    public var feeMerchant: Int64?
    public var feeCustomer: Int64?
    public var totalFee: Int64?
    public var amountReceived: Int64?
    public var isClosedPayment: Int?
    public var status: Status
    /// Unix seconds; Tripay sends a number, sometimes a numeric string, or null.
    public var paidAt: Int64?
    public var note: String?

    enum CodingKeys: String, CodingKey {
        case reference, status, note
        case merchantRef = "merchant_ref"
        case paymentMethod = "payment_method"
        case paymentMethodCode = "payment_method_code"
        case totalAmount = "total_amount"
        case feeMerchant = "fee_merchant"
        case feeCustomer = "fee_customer"
        case totalFee = "total_fee"
        case amountReceived = "amount_received"
        case isClosedPayment = "is_closed_payment"
        case paidAt = "paid_at"
    }

    public init(
        reference: String, merchantRef: String?, paymentMethod: String? = nil, paymentMethodCode: String? = nil,
        totalAmount: Int64, feeMerchant: Int64? = 0, feeCustomer: Int64? = 0, totalFee: Int64? = 0, amountReceived: Int64?,
        isClosedPayment: Int? = 1, status: Status, paidAt: Int64?, note: String? = nil
    ) {
        self.reference = reference
        self.merchantRef = merchantRef
        self.paymentMethod = paymentMethod
        self.paymentMethodCode = paymentMethodCode
        self.totalAmount = totalAmount
        self.feeMerchant = feeMerchant
        self.feeCustomer = feeCustomer
        self.totalFee = totalFee
        self.amountReceived = amountReceived
        self.isClosedPayment = isClosedPayment
        self.status = status
        self.paidAt = paidAt
        self.note = note
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        reference = try c.decode(String.self, forKey: .reference)
        guard !reference.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .reference, in: c, debugDescription: "reference is empty")
        }
        merchantRef = try c.decodeIfPresent(String.self, forKey: .merchantRef)
        paymentMethod = try c.decodeIfPresent(String.self, forKey: .paymentMethod)
        paymentMethodCode = try c.decodeIfPresent(String.self, forKey: .paymentMethodCode)
        totalAmount = try c.decode(Int64.self, forKey: .totalAmount)
        feeMerchant = try c.decodeIfPresent(Int64.self, forKey: .feeMerchant)
        feeCustomer = try c.decodeIfPresent(Int64.self, forKey: .feeCustomer)
        totalFee = try c.decodeIfPresent(Int64.self, forKey: .totalFee)
        amountReceived = try c.decodeIfPresent(Int64.self, forKey: .amountReceived)
        isClosedPayment = try c.decodeIfPresent(Int.self, forKey: .isClosedPayment)
        status = try c.decode(Status.self, forKey: .status)
        if let number = try? c.decodeIfPresent(Int64.self, forKey: .paidAt) {
            paidAt = number
        } else if let text = try? c.decodeIfPresent(String.self, forKey: .paidAt) {
            paidAt = Int64(text)
        } else {
            paidAt = nil
        }
        note = try c.decodeIfPresent(String.self, forKey: .note)
    }

    /// Decodes a raw callback body.
    public static func decode(_ body: [UInt8]) throws -> TripayCallback {
        try JSONDecoder().decode(TripayCallback.self, from: Data(body))
    }
}
