import Foundation
import Messaging
import Postgres
import WalletContracts

/// WELCOME_BONUS_CREDITED: what the customer is told, in `Templates/notifications/<locale>/welcome-bonus-credited.*`.
extension WelcomeBonusCredited: CustomerNotice {
    static let kind = "WELCOME_BONUS_CREDITED"

    func values(_ format: NoticeFormat, _ templates: NotificationTemplates, lookup: PGConnection) throws -> [String: Any] {
        ["amount": format.rupiah(amount), "balanceAfter": format.rupiah(balanceAfter), "promoCode": promoCode]
    }
}

struct NotifyWelcomeBonusCreditedHandler: MessageHandler {
    let notifier: Notifier

    func handle(_ message: Envelope<WelcomeBonusCredited>, context: inout HandlerContext) throws -> HandlerOutcome {
        try notifier.record(message, context: &context)
    }
}
