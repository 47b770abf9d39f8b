import Foundation
import Messaging
import Postgres
import WalletContracts

/// DEPOSIT_PAID: what the customer is told, in `Templates/notifications/<locale>/deposit-paid.*`.
extension DepositPaid: CustomerNotice {
    static let kind = "DEPOSIT_PAID"

    func values(_ format: NoticeFormat, _ templates: NotificationTemplates, lookup: PGConnection) throws -> [String: Any] {
        [
            "amount": format.rupiah(amount), "hasBonus": bonus > 0, "bonus": format.rupiah(bonus),
            "balanceAfter": format.rupiah(balanceAfter), "reference": reference,
        ]
    }
}

struct NotifyDepositPaidHandler: MessageHandler {
    let notifier: Notifier

    func handle(_ message: Envelope<DepositPaid>, context: inout HandlerContext) throws -> HandlerOutcome {
        try notifier.record(message, context: &context)
    }
}
