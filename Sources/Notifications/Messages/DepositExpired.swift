import Foundation
import Messaging
import Postgres
import WalletContracts

/// DEPOSIT_EXPIRED: what the customer is told, in `Templates/notifications/<locale>/deposit-expired.*`.
extension DepositExpired: CustomerNotice {
    static let kind = "DEPOSIT_EXPIRED"

    func values(_ format: NoticeFormat, _ templates: NotificationTemplates, lookup: PGConnection) throws -> [String: Any] {
        ["amount": format.rupiah(amount), "reference": reference, "failed": status == .failed]
    }
}

struct NotifyDepositExpiredHandler: MessageHandler {
    let notifier: Notifier

    func handle(_ message: Envelope<DepositExpired>, context: inout HandlerContext) throws -> HandlerOutcome {
        try notifier.record(message, context: &context)
    }
}
