import Foundation
import Messaging
import OrdersContracts
import Postgres

/// VPS_TERMINATED: what the customer is told, in `Templates/notifications/<locale>/vps-terminated.*`.
extension VPSTerminated: CustomerNotice {
    static let kind = "VPS_TERMINATED"

    func values(_ format: NoticeFormat, _ templates: NotificationTemplates, lookup: PGConnection) throws -> [String: Any] {
        ["hostname": hostname, "reason": templates.reason(reason, format.locale)]
    }
}

struct NotifyVPSTerminatedHandler: MessageHandler {
    let notifier: Notifier

    func handle(_ message: Envelope<VPSTerminated>, context: inout HandlerContext) throws -> HandlerOutcome {
        try notifier.record(message, context: &context)
    }
}
