import Foundation
import Messaging
import OrdersContracts
import Postgres

/// VPS_RENEWED: what the customer is told, in `Templates/notifications/<locale>/vps-renewed.*`.
extension VPSRenewed: CustomerNotice {
    static let kind = "VPS_RENEWED"

    func values(_ format: NoticeFormat, _ templates: NotificationTemplates, lookup: PGConnection) throws -> [String: Any] {
        ["hostname": hostname, "amount": format.rupiah(amount), "expiresAt": format.time(expiresAt)]
    }
}

struct NotifyVPSRenewedHandler: MessageHandler {
    let notifier: Notifier

    func handle(_ message: Envelope<VPSRenewed>, context: inout HandlerContext) throws -> HandlerOutcome {
        try notifier.record(message, context: &context)
    }
}
