import Foundation
import Messaging
import OrdersContracts
import Postgres

/// Turns auto-renewal on or off (`provisioning.set-auto-renew`) on an order that can still renew.
public struct SetAutoRenewHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<SetAutoRenew>, context: inout HandlerContext) throws -> HandlerOutcome {
        let body = message.data
        guard let order = try Orders.record(body.orderId, lock: true, on: context.connection), order.customerId == body.customerId else {
            return .rejected(.orderNotFound, "no such order")
        }
        guard ![.terminated, .failed].contains(order.status) else {
            return .rejected(.invalidOrderState, "an order that is \(order.status.rawValue) does not renew")
        }
        try context.connection.execute("UPDATE orders SET auto_renew = $2, updated_at = now() WHERE id = $1", body.orderId, body.autoRenew)
        guard let view = try Orders.view(body.orderId, customerId: body.customerId, on: context.connection) else { return .done }
        return try .done(view)
    }
}
