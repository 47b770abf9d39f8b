import Foundation
import Messaging
import OrdersContracts
import Postgres

/// VPS_EXPIRING_SOON: what the customer is told, in `Templates/notifications/<locale>/vps-expiring-soon.*`.
extension VPSExpiringSoon: CustomerNotice {
    static let kind = "VPS_EXPIRING_SOON"

    func values(_ format: NoticeFormat, _ templates: NotificationTemplates, lookup: PGConnection) throws -> [String: Any] {
        [
            "hostname": hostname, "hoursLeft": hoursLeft, "expiresAt": format.time(expiresAt), "urgent": hoursLeft <= 8,
            "autoRenew": autoRenew, "price": format.rupiah(price),
        ]
    }
}

struct NotifyVPSExpiringSoonHandler: MessageHandler {
    let notifier: Notifier

    func handle(_ message: Envelope<VPSExpiringSoon>, context: inout HandlerContext) throws -> HandlerOutcome {
        try notifier.record(message, context: &context)
    }
}
