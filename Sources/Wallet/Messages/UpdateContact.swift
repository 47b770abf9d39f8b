import Foundation
import Messaging
import WalletContracts

/// Saves where the customer's notifications go (`payments.update-contact`).
public struct UpdateContactHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<UpdateContact>, context: inout HandlerContext) throws -> HandlerOutcome {
        try Customers.saveContact(message.data, on: context.connection)
        return try .done(message.data)
    }
}
