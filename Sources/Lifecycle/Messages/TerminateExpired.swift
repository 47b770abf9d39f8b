import Foundation
import Messaging
import OrdersContracts
import Postgres
import Provisioning

/// `lifecycle.terminate`: a suspended VPS's grace period is over.
public struct TerminateExpired: MessageBody, Equatable {
    public static let messageType = "lifecycle.terminate"
    public static let exchange = Exchange.commands

    public var orderId: UUID
    public var suspendedAt: Date

    public init(orderId: UUID, suspendedAt: Date) {
        self.orderId = orderId
        self.suspendedAt = suspendedAt
    }
}

/// Terminates a VPS still suspended since `suspendedAt` once its grace period has passed at the
/// tick's time (renewed meanwhile: nothing happens).
public struct TerminateExpiredHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<TerminateExpired>, context: inout HandlerContext) throws -> HandlerOutcome {
        let body = message.data
        guard let order = try Orders.record(body.orderId, lock: true, on: context.connection), order.status == .suspended else {
            return .done
        }
        guard let since = order.suspendedAt, body.suspendedAt.sameSecond(as: since),
            context.now >= since.addingTimeInterval(Double(LifecycleRules.graceHours(order.billingPeriod)) * 3600)
        else { return .done }
        try Termination.terminate(
            order, reason: order.autoRenew ? "INSUFFICIENT_BALANCE" : "EXPIRED_NO_RENEWAL", now: context.now, context: &context)
        return .done
    }
}

/// Ends an order: TERMINATED first (so no renewal can race the deletion), the account's count
/// given back, VPS_TERMINATED out, and the droplet deleted by the provisioner
/// (`provisioning.destroy-droplet`, retried until done; a second termination calls nothing).
enum Termination {
    static func terminate(_ order: OrderRecord, reason: String, now: Date, context: inout HandlerContext) throws {
        guard
            try Orders.transition(
                order.id, from: [.active, .expiringSoon, .suspended], to: .terminated, actor: "system:lifecycle", reason: reason, at: now,
                set: "terminated_at = $3, termination_reason = $4, droplet_status = NULL", [now, reason], on: context.connection)
        else { return }
        try Orders.uncount(order.id, on: context.connection)
        if let account = order.accountId, let droplet = order.dropletId {
            try context.send(
                DestroyDroplet(accountId: account, dropletId: droplet, orderId: order.id, reason: "terminated: \(reason)"),
                id: DestroyDroplet.id(accountId: account, dropletId: droplet, at: now))
        }
        try context.send(
            VPSTerminated(customerId: order.customerId, orderId: order.id, hostname: order.hostname, reason: reason),
            id: MessageID.derive("vps-terminated", order.id.uuidString))
    }
}
