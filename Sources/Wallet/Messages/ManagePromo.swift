import Foundation
import Messaging
import WalletContracts

/// Admin: create, update or deactivate a promo (`payments.manage-promo`).
public struct ManagePromoHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<ManagePromo>, context: inout HandlerContext) throws -> HandlerOutcome {
        let command = message.data
        let connection = context.connection
        let rejection: Rejection?
        switch command.action {
        case .create:
            rejection = try Promos.create(command.promoId, fields: command.fields, on: connection)
        case .update:
            guard command.fields.code == nil, command.fields.type == nil, command.fields.bonusType == nil else {
                return .rejected(.promoFieldImmutable, "code, type and bonus type cannot be changed")
            }
            rejection = try Promos.update(command.promoId, fields: command.fields, cleared: command.cleared ?? [], on: connection)
        case .deactivate:
            rejection = try Promos.deactivate(command.promoId, on: connection)
        }
        if let rejection { return .rejected(rejection) }
        guard let promo = try Promos.find(id: command.promoId, on: connection) else {
            return .rejected(.promoNotFound, "no such promo")
        }
        return try .done(promo)
    }
}
