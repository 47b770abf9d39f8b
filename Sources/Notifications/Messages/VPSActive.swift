import Foundation
import Messaging
import OrdersContracts
import Postgres

/// VPS_ACTIVE: what the customer is told, in `Templates/notifications/<locale>/vps-active.*`.
extension VPSActive: CustomerNotice {
    static let kind = "VPS_ACTIVE"

    func values(_ format: NoticeFormat, _ templates: NotificationTemplates, lookup: PGConnection) throws -> [String: Any] {
        ["hostname": hostname, "ip": publicIpv4, "expiresAt": format.time(expiresAt)]
    }
}

struct NotifyVPSActiveHandler: MessageHandler {
    let notifier: Notifier

    func handle(_ message: Envelope<VPSActive>, context: inout HandlerContext) throws -> HandlerOutcome {
        try notifier.record(message, context: &context)
    }
}
