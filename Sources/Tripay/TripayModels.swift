import Foundation

/// A fee as Tripay states it: a flat part plus a percentage.
public struct TripayFee: Codable, Sendable, Equatable {
    public var flat: Int64
    public var percent: Double

    public init(flat: Int64, percent: Double) {
        self.flat = flat
        self.percent = percent
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        flat = try c.decode(LenientInt.self, forKey: .flat).value
        percent = try c.decode(LenientDouble.self, forKey: .percent).value
    }
}

/// One row of `GET /merchant/payment-channel`.
public struct PaymentChannel: Codable, Sendable, Equatable {
    public var group: String
    public var code: String
    public var name: String
    public var type: String
    public var feeMerchant: TripayFee
    public var feeCustomer: TripayFee
    public var totalFee: TripayFee
    public var minimumFee: Int64?
    public var maximumFee: Int64?
    public var minimumAmount: Int64?
    public var maximumAmount: Int64?
    public var iconURL: String?
    public var active: Bool

    enum CodingKeys: String, CodingKey {
        case group, code, name, type, active
        case feeMerchant = "fee_merchant"
        case feeCustomer = "fee_customer"
        case totalFee = "total_fee"
        case minimumFee = "minimum_fee"
        case maximumFee = "maximum_fee"
        case minimumAmount = "minimum_amount"
        case maximumAmount = "maximum_amount"
        case iconURL = "icon_url"
    }

    public init(
        group: String, code: String, name: String, type: String = "DIRECT", feeMerchant: TripayFee = TripayFee(flat: 0, percent: 0),
        feeCustomer: TripayFee, totalFee: TripayFee, minimumFee: Int64? = nil, maximumFee: Int64? = nil, minimumAmount: Int64? = nil,
        maximumAmount: Int64? = nil, iconURL: String? = nil, active: Bool = true
    ) {
        self.group = group
        self.code = code
        self.name = name
        self.type = type
        self.feeMerchant = feeMerchant
        self.feeCustomer = feeCustomer
        self.totalFee = totalFee
        self.minimumFee = minimumFee
        self.maximumFee = maximumFee
        self.minimumAmount = minimumAmount
        self.maximumAmount = maximumAmount
        self.iconURL = iconURL
        self.active = active
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        group = try c.decode(String.self, forKey: .group)
        code = try c.decode(String.self, forKey: .code)
        name = try c.decode(String.self, forKey: .name)
        type = try c.decodeIfPresent(String.self, forKey: .type) ?? "DIRECT"
        feeMerchant = try c.decodeIfPresent(TripayFee.self, forKey: .feeMerchant) ?? TripayFee(flat: 0, percent: 0)
        feeCustomer = try c.decodeIfPresent(TripayFee.self, forKey: .feeCustomer) ?? TripayFee(flat: 0, percent: 0)
        totalFee = try c.decode(TripayFee.self, forKey: .totalFee)
        minimumFee = try c.decodeIfPresent(LenientInt.self, forKey: .minimumFee)?.value
        maximumFee = try c.decodeIfPresent(LenientInt.self, forKey: .maximumFee)?.value
        minimumAmount = try c.decodeIfPresent(LenientInt.self, forKey: .minimumAmount)?.value
        maximumAmount = try c.decodeIfPresent(LenientInt.self, forKey: .maximumAmount)?.value
        iconURL = try c.decodeIfPresent(String.self, forKey: .iconURL)
        active = try c.decode(Bool.self, forKey: .active)
    }

    /// The fee the customer pays on top of `amount` (DOMAIN.md): flat + round(amount × percent / 100),
    /// clamped to the channel's minimum and maximum fee. Computed in integers: the percentage is
    /// taken to hundredths of a percent, rounding half up.
    public func fee(for amount: Int64) -> Int64 {
        Self.fee(totalFee, amount: amount, minimumFee: minimumFee, maximumFee: maximumFee)
    }

    /// What the customer pays on top of `amount` (DOMAIN.md): `fee_customer`'s flat +
    /// round(amount × percent / 100), clamped to the channel's minimum and maximum fee.
    public func customerFee(for amount: Int64) -> Int64 {
        Self.fee(feeCustomer, amount: amount, minimumFee: minimumFee, maximumFee: maximumFee)
    }

    static func fee(_ rule: TripayFee, amount: Int64, minimumFee: Int64?, maximumFee: Int64?) -> Int64 {
        let hundredths = Int64((rule.percent * 100).rounded())
        var fee = rule.flat + (amount * hundredths + 5_000) / 10_000
        if let minimumFee, minimumFee > 0 { fee = max(fee, minimumFee) }
        if let maximumFee, maximumFee > 0 { fee = min(fee, maximumFee) }
        return fee
    }
}

/// One item of a closed payment.
public struct TripayOrderItem: Codable, Sendable, Equatable {
    public var sku: String
    public var name: String
    public var price: Int64
    public var quantity: Int

    public init(sku: String, name: String, price: Int64, quantity: Int) {
        self.sku = sku
        self.name = name
        self.price = price
        self.quantity = quantity
    }
}

/// The body of `POST /transaction/create` (closed payment).
public struct CreateTransactionRequest: Codable, Sendable, Equatable {
    public var method: String
    public var merchantRef: String
    public var amount: Int64
    public var customerName: String
    public var customerEmail: String
    public var customerPhone: String?
    public var orderItems: [TripayOrderItem]
    public var callbackURL: String?
    public var returnURL: String?
    /// Unix seconds.
    public var expiredTime: Int64
    public var signature: String

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

    public init(
        method: String, merchantRef: String, amount: Int64, customerName: String, customerEmail: String, customerPhone: String?,
        orderItems: [TripayOrderItem], callbackURL: String?, returnURL: String?, expiredTime: Int64, signature: String
    ) {
        self.method = method
        self.merchantRef = merchantRef
        self.amount = amount
        self.customerName = customerName
        self.customerEmail = customerEmail
        self.customerPhone = customerPhone
        self.orderItems = orderItems
        self.callbackURL = callbackURL
        self.returnURL = returnURL
        self.expiredTime = expiredTime
        self.signature = signature
    }
}

/// A transaction as `transaction/create` and `transaction/detail` return it.
public struct TripayTransaction: Codable, Sendable, Equatable {
    public var reference: String
    public var merchantRef: String
    public var paymentMethod: String
    public var paymentName: String?
    public var amount: Int64
    public var feeMerchant: Int64
    public var feeCustomer: Int64
    public var totalFee: Int64
    public var amountReceived: Int64
    public var payCode: String?
    public var payURL: String?
    public var checkoutURL: String?
    /// UNPAID, PAID, EXPIRED, FAILED, REFUND.
    public var status: String
    public var expiredTime: Int64
    public var qrString: String?
    public var qrURL: String?
    public var paidAt: Int64?

    enum CodingKeys: String, CodingKey {
        case reference, amount, status
        case merchantRef = "merchant_ref"
        case paymentMethod = "payment_method"
        case paymentName = "payment_name"
        case feeMerchant = "fee_merchant"
        case feeCustomer = "fee_customer"
        case totalFee = "total_fee"
        case amountReceived = "amount_received"
        case payCode = "pay_code"
        case payURL = "pay_url"
        case checkoutURL = "checkout_url"
        case expiredTime = "expired_time"
        case qrString = "qr_string"
        case qrURL = "qr_url"
        case paidAt = "paid_at"
    }

    enum ListKeys: String, CodingKey {
        case expiredAt = "expired_at"
    }

    public init(
        reference: String, merchantRef: String, paymentMethod: String, paymentName: String?, amount: Int64, feeMerchant: Int64,
        feeCustomer: Int64, totalFee: Int64, amountReceived: Int64, payCode: String?, payURL: String?, checkoutURL: String?,
        status: String, expiredTime: Int64, qrString: String?, qrURL: String?, paidAt: Int64?
    ) {
        self.reference = reference
        self.merchantRef = merchantRef
        self.paymentMethod = paymentMethod
        self.paymentName = paymentName
        self.amount = amount
        self.feeMerchant = feeMerchant
        self.feeCustomer = feeCustomer
        self.totalFee = totalFee
        self.amountReceived = amountReceived
        self.payCode = payCode
        self.payURL = payURL
        self.checkoutURL = checkoutURL
        self.status = status
        self.expiredTime = expiredTime
        self.qrString = qrString
        self.qrURL = qrURL
        self.paidAt = paidAt
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        reference = try c.decode(String.self, forKey: .reference)
        merchantRef = try c.decode(String.self, forKey: .merchantRef)
        paymentMethod = try c.decode(String.self, forKey: .paymentMethod)
        paymentName = try c.decodeIfPresent(String.self, forKey: .paymentName)
        amount = try c.decode(LenientInt.self, forKey: .amount).value
        feeMerchant = try c.decodeIfPresent(LenientInt.self, forKey: .feeMerchant)?.value ?? 0
        feeCustomer = try c.decodeIfPresent(LenientInt.self, forKey: .feeCustomer)?.value ?? 0
        totalFee = try c.decodeIfPresent(LenientInt.self, forKey: .totalFee)?.value ?? 0
        amountReceived = try c.decodeIfPresent(LenientInt.self, forKey: .amountReceived)?.value ?? 0
        payCode = try c.decodeIfPresent(String.self, forKey: .payCode)
        payURL = try c.decodeIfPresent(String.self, forKey: .payURL)
        checkoutURL = try c.decodeIfPresent(String.self, forKey: .checkoutURL)
        status = try c.decode(String.self, forKey: .status)
        // transaction/create and detail say expired_time; the merchant's transaction list says expired_at.
        guard
            let expiry = try c.decodeIfPresent(LenientInt.self, forKey: .expiredTime)
                ?? decoder.container(keyedBy: ListKeys.self).decodeIfPresent(LenientInt.self, forKey: .expiredAt)
        else {
            throw DecodingError.keyNotFound(
                CodingKeys.expiredTime, .init(codingPath: c.codingPath, debugDescription: "neither expired_time nor expired_at"))
        }
        expiredTime = expiry.value
        qrString = try c.decodeIfPresent(String.self, forKey: .qrString)
        qrURL = try c.decodeIfPresent(String.self, forKey: .qrURL)
        // paid_at is a number, a numeric string, or null.
        paidAt = try c.decodeIfPresent(LenientInt.self, forKey: .paidAt)?.value
    }
}

/// `GET /merchant/transactions`' paging block.
public struct TripayPagination: Codable, Sendable, Equatable {
    public var currentPage: Int
    public var lastPage: Int
    public var perPage: Int
    public var totalRecords: Int

    enum CodingKeys: String, CodingKey {
        case currentPage = "current_page"
        case lastPage = "last_page"
        case perPage = "per_page"
        case totalRecords = "total_records"
    }
}

/// Tripay's `{"success": ..., "message": ..., "data": ...}` wrapper.
public struct TripayEnvelope<Payload: Codable & Sendable>: Codable, Sendable {
    public var success: Bool
    public var message: String?
    public var data: Payload?
    /// Only on list endpoints.
    public var pagination: TripayPagination?

    public init(success: Bool, message: String?, data: Payload?, pagination: TripayPagination? = nil) {
        self.success = success
        self.message = message
        self.data = data
        self.pagination = pagination
    }
}

/// A whole number sent as a JSON number or a numeric string.
struct LenientInt: Codable, Sendable {
    var value: Int64
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let number = try? c.decode(Int64.self) {
            value = number
        } else if let double = try? c.decode(Double.self), double.rounded() == double {
            value = Int64(double)
        } else if let text = try? c.decode(String.self), let number = Int64(text) {
            value = number
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a whole number")
        }
    }
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(value)
    }
}

struct LenientDouble: Codable, Sendable {
    var value: Double
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let number = try? c.decode(Double.self) {
            value = number
        } else if let text = try? c.decode(String.self), let number = Double(text) {
            value = number
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a number")
        }
    }
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(value)
    }
}
