import Foundation
import Messaging
import WalletContracts

/// Claims the welcome bonus (`payments.claim-welcome-bonus`). Claim and credit are one
/// transaction: the promo row lock and the ledger's reference (promo, customer) make a second
/// claim, even a concurrent one, fail with PROMO_ALREADY_USED.
public struct ClaimWelcomeBonusHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<ClaimWelcomeBonus>, context: inout HandlerContext) throws -> HandlerOutcome {
        let customer = message.data.customerId
        guard let welcome = try Promos.activeWelcome(on: context.connection) else {
            return .rejected(.promoNotFound, "there is no welcome bonus right now")
        }
        switch try Promos.redeem(
            code: welcome.code, customerId: customer, depositId: nil, amount: nil, now: context.now, on: context.connection)
        {
        case .failure(let rejection):
            return .rejected(rejection.rejection)
        case .success(let (promo, bonus)):
            let posting = try Ledger.credit(
                customer, amount: bonus, reference: .welcomeBonus, referenceId: "\(promo.id.uuidString.lowercased()):\(customer)",
                description: "Welcome bonus \(promo.code)", on: context.connection)
            try context.send(
                WelcomeBonusCredited(customerId: customer, promoCode: promo.code, amount: bonus, balanceAfter: posting.entry.balanceAfter),
                id: MessageID.derive("welcome-bonus", promo.id.uuidString, customer))
            return try .done(["amount": bonus, "balanceAfter": posting.entry.balanceAfter])
        }
    }
}
