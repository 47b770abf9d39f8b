import Foundation
import Messaging
import OrdersContracts
import Postgres

/// Admin: create, update or deactivate a plan (`provisioning.manage-plan`). A period flag on with
/// no price is accepted: that period is simply not offered. Orders keep the price they were sold at.
public struct ManagePlanHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<ManagePlan>, context: inout HandlerContext) throws -> HandlerOutcome {
        let command = message.data
        let connection = context.connection
        let rejection: Rejection?
        switch command.action {
        case .create: rejection = try Catalog.createPlan(command.planId, command.fields, on: connection)
        case .update: rejection = try Catalog.updatePlan(command.planId, command.fields, cleared: command.cleared, on: connection)
        case .deactivate:
            var fields = ManagePlan.Fields()
            fields.active = false
            rejection = try Catalog.updatePlan(command.planId, fields, cleared: [], on: connection)
        }
        if let rejection { return .rejected(rejection) }
        guard let plan = try Catalog.plan(command.planId, on: connection) else { return .rejected(.planNotFound, "no such plan") }
        return try .done(plan.adminView)
    }
}
