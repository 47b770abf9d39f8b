import Foundation
import Messaging
import WalletContracts

/// `event.deposit.paid-late` is an operator alert (the deposit is flagged): the customer is told
/// by the `event.deposit.paid` that follows it, so this records nothing. Handled, not dropped:
/// an event nobody handles is a dead letter.
struct NotifyDepositPaidLateHandler: MessageHandler {
    func handle(_ message: Envelope<DepositPaidLate>, context: inout HandlerContext) throws -> HandlerOutcome {
        context.logger.info("a late payment was credited; the customer hears of it through DEPOSIT_PAID")
        return .done
    }
}
