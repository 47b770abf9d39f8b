import Foundation
import Messaging
import OrdersContracts
import Postgres

/// VPS_RENEWAL_FAILED: what the customer is told, in `Templates/notifications/<locale>/vps-renewal-failed.*`.
extension VPSRenewalFailed: CustomerNotice {
    static let kind = "VPS_RENEWAL_FAILED"

    func values(_ format: NoticeFormat, _ templates: NotificationTemplates, lookup: PGConnection) throws -> [String: Any] {
        [
            "hostname": hostname, "required": format.rupiah(required), "balance": format.rupiah(balance),
            "deficit": format.rupiah(max(0, required - balance)), "expiresAt": format.time(expiresAt),
        ]
    }
}

struct NotifyVPSRenewalFailedHandler: MessageHandler {
    let notifier: Notifier

    func handle(_ message: Envelope<VPSRenewalFailed>, context: inout HandlerContext) throws -> HandlerOutcome {
        try notifier.record(message, context: &context)
    }
}
