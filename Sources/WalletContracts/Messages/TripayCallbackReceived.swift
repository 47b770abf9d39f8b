import Foundation
import Messaging

/// `payments.tripay-callback`: a Tripay callback whose signature the ingress verified. The raw
/// body travels as received, so the worker reads exactly what was signed and support sees
/// exactly what Tripay sent. The reconciler publishes the same message for a callback that
/// never came.
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
