import Foundation
import Messaging
import OrdersContracts
import Postgres

/// ORDER_CREATED: what the customer is told, in `Templates/notifications/<locale>/order-created.*`.
extension OrderCreated: CustomerNotice {
    static let kind = "ORDER_CREATED"

    func values(_ format: NoticeFormat, _ templates: NotificationTemplates, lookup: PGConnection) throws -> [String: Any] {
        [
            "hostname": hostname, "planName": planName, "period": format.period(billingPeriod.rawValue), "price": format.rupiah(price),
        ]
    }
}

struct NotifyOrderCreatedHandler: MessageHandler {
    let notifier: Notifier

    func handle(_ message: Envelope<OrderCreated>, context: inout HandlerContext) throws -> HandlerOutcome {
        try notifier.record(message, context: &context)
    }
}
