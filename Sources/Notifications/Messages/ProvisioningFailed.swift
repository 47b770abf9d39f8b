import Foundation
import Messaging
import OrdersContracts
import Postgres

/// PROVISIONING_FAILED: what the customer is told, in `Templates/notifications/<locale>/provisioning-failed.*`.
extension ProvisioningFailed: CustomerNotice {
    static let kind = "PROVISIONING_FAILED"

    func values(_ format: NoticeFormat, _ templates: NotificationTemplates, lookup: PGConnection) throws -> [String: Any] {
        // The event carries no hostname: the order has it (a failed order keeps its row).
        var values: [String: Any] = [
            "reason": templates.reason(code, format.locale), "hasRefund": refunded > 0, "refunded": format.rupiah(refunded),
        ]
        // Absent rather than empty: an empty string would open the templates' `{{#hostname}}`.
        if let hostname = try Orders.record(orderId, on: lookup)?.hostname, !hostname.isEmpty { values["hostname"] = hostname }
        return values
    }
}

struct NotifyProvisioningFailedHandler: MessageHandler {
    let notifier: Notifier

    func handle(_ message: Envelope<ProvisioningFailed>, context: inout HandlerContext) throws -> HandlerOutcome {
        try notifier.record(message, context: &context)
    }
}
