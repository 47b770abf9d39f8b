import DigitalOcean
import Foundation
import Messaging
import OrdersContracts
import Postgres

/// The customer deletes their VPS (`provisioning.delete-order`, no refund): the droplet is
/// destroyed (gone already counts as destroyed), the order TERMINATED (USER_DELETED), the
/// account's count given back once. Deleting a terminated order does nothing more.
public struct DeleteOrderHandler: PreparingMessageHandler {
    let gateway: DigitalOceanGateway

    public init(gateway: DigitalOceanGateway) {
        self.gateway = gateway
    }

    public func prepare(_ message: Envelope<DeleteOrder>, context: PrepareContext) async throws -> Preparation<Bool> {
        let body = message.data
        guard let order = try await context.pool.withConnection({ try Orders.record(body.orderId, on: $0) }),
            order.customerId == body.customerId
        else { return .finished(.rejected(.orderNotFound, "no such order")) }
        if order.status == .terminated { return .finished(.done) }
        guard order.status.allowsDropletActions else {
            return .finished(.rejected(.invalidOrderState, "an order that is \(order.status.rawValue) cannot be deleted"))
        }
        guard let dropletId = order.dropletId, let accountId = order.accountId,
            let account = try await context.pool.withConnection({ try DOAccounts.account(accountId, on: $0) })
        else { return .ready(false) }
        return try await waitOnTransient(until: message.occurredAt.addingTimeInterval(86_400)) {
            .ready(try await gateway.call(account, { try await $0.deleteDroplet(id: dropletId, token: $1) }))
        }
    }

    public func handle(_ message: Envelope<DeleteOrder>, prepared: Bool, context: inout HandlerContext) throws -> HandlerOutcome {
        let body = message.data
        guard let order = try Orders.record(body.orderId, lock: true, on: context.connection), order.customerId == body.customerId else {
            return .rejected(.orderNotFound, "no such order")
        }
        let now = context.now
        guard
            try Orders.transition(
                order.id, from: [.active, .expiringSoon, .suspended], to: .terminated, actor: "customer:\(body.customerId)",
                reason: "USER_DELETED", at: now, set: "terminated_at = $3, termination_reason = 'USER_DELETED', droplet_status = NULL",
                [now], on: context.connection)
        else { return .done }
        try Orders.uncount(order.id, on: context.connection)
        try context.send(
            VPSTerminated(customerId: order.customerId, orderId: order.id, hostname: order.hostname, reason: "USER_DELETED"),
            id: MessageID.derive("vps-terminated", order.id.uuidString))
        return .done
    }
}
