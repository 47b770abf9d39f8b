import Foundation
import Messaging

/// Deposit limits (DOMAIN.md: minimum 10,000; a configurable maximum; expiry default 24 h),
/// read by the ingress (to refuse at once) and the payments worker (to create at Tripay).
public struct DepositPolicy: Sendable {
    public static let minimumAmount: Int64 = 10_000

    public var minimumAmount: Int64 = DepositPolicy.minimumAmount
    public var maximumAmount: Int64 = 100_000_000
    public var expiry: Duration = .seconds(24 * 3600)
    /// Where Tripay sends callbacks for deposits made here (TRIPAY_CALLBACK_URL); nil uses the merchant setting.
    public var callbackURL: String?
    public var returnURL: String?

    public init(
        maximumAmount: Int64 = 100_000_000, expiry: Duration = .seconds(24 * 3600), callbackURL: String? = nil, returnURL: String? = nil
    ) {
        self.maximumAmount = maximumAmount
        self.expiry = expiry
        self.callbackURL = callbackURL
        self.returnURL = returnURL
    }

    /// ARMADA_DEPOSIT_MAX (100,000,000), ARMADA_DEPOSIT_EXPIRY_HOURS (24), TRIPAY_CALLBACK_URL, TRIPAY_RETURN_URL.
    public init(_ environment: EnvironmentReader) throws {
        self.init(
            maximumAmount: Int64(
                try environment.int("ARMADA_DEPOSIT_MAX", default: 100_000_000, in: Int(Self.minimumAmount)...1_000_000_000_000)),
            expiry: try environment.seconds("ARMADA_DEPOSIT_EXPIRY_HOURS", default: 24, in: 1...720) * 3600,
            callbackURL: environment.string("TRIPAY_CALLBACK_URL"), returnURL: environment.string("TRIPAY_RETURN_URL"))
    }
}
