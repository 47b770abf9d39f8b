import Foundation
import Messaging

/// A Tripay callback whose signature the ingress verified. The raw body travels as received,
/// so the worker reads exactly what was signed and support sees exactly what Tripay sent.
public struct TripayCallbackReceived: MessageBody, Equatable {
    public static let messageType = "payments.tripay-callback"
    public static let exchange = Exchange.commands

    public var rawBody: String
    public var receivedAt: Date

    public init(rawBody: String, receivedAt: Date) {
        self.rawBody = rawBody
        self.receivedAt = receivedAt
    }

    /// The same (reference, status) is the same fact: Tripay's resends get one id.
    public static func messageID(reference: String, status: String) -> UUID {
        MessageID.derive("tripay-callback", reference, status)
    }
}

/// DEPOSIT_PAID: the wallet was credited.
public struct DepositPaid: MessageBody, Equatable {
    public static let messageType = "event.deposit.paid"
    public static let exchange = Exchange.events

    public var customerId: String
    public var depositId: UUID
    public var reference: String
    public var amount: Int64
    public var bonus: Int64
    public var balanceAfter: Int64
}

/// DEPOSIT_EXPIRED (and FAILED): the deposit ended unpaid.
public struct DepositExpired: MessageBody, Equatable {
    public static let messageType = "event.deposit.expired"
    public static let exchange = Exchange.events

    public var customerId: String
    public var depositId: UUID
    public var reference: String
    public var amount: Int64
    /// EXPIRED or FAILED.
    public var status: String
}
