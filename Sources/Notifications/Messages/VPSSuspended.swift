import Foundation
import Messaging
import OrdersContracts
import Postgres

/// VPS_SUSPENDED: what the customer is told, in `Templates/notifications/<locale>/vps-suspended.*`.
extension VPSSuspended: CustomerNotice {
    static let kind = "VPS_SUSPENDED"

    func values(_ format: NoticeFormat, _ templates: NotificationTemplates, lookup: PGConnection) throws -> [String: Any] {
        ["hostname": hostname, "graceHours": graceHours, "reason": templates.reason(reason, format.locale)]
    }
}

struct NotifyVPSSuspendedHandler: MessageHandler {
    let notifier: Notifier

    func handle(_ message: Envelope<VPSSuspended>, context: inout HandlerContext) throws -> HandlerOutcome {
        try notifier.record(message, context: &context)
    }
}
