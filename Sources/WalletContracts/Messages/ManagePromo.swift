import Foundation
import Messaging

/// `payments.manage-promo`: admin, create, update or deactivate a promo.
public struct ManagePromo: MessageBody, Equatable {
    public static let messageType = "payments.manage-promo"
    public static let exchange = Exchange.commands

    public enum Action: String, Codable, Sendable { case create, update, deactivate }

    /// A nullable field an update sets back to none (an explicit `null` in the request).
    public enum ClearableField: String, Codable, Sendable, CaseIterable {
        case maxBonus, startsAt, endsAt, maxTotalUses
    }

    /// The fields an admin sets; on update, nil means unchanged (code, type and bonus type cannot change).
    public struct Fields: Codable, Sendable, Equatable {
        public var code: String?
        public var name: String?
        public var type: Promo.Kind?
        public var bonusType: Promo.BonusType?
        public var bonusValue: Int64?
        public var minDeposit: Int64?
        public var maxBonus: Int64?
        public var startsAt: Date?
        public var endsAt: Date?
        public var maxTotalUses: Int?
        public var maxUsesPerCustomer: Int?
        public var active: Bool?

        public init(
            code: String? = nil, name: String? = nil, type: Promo.Kind? = nil, bonusType: Promo.BonusType? = nil, bonusValue: Int64? = nil,
            minDeposit: Int64? = nil, maxBonus: Int64? = nil, startsAt: Date? = nil, endsAt: Date? = nil, maxTotalUses: Int? = nil,
            maxUsesPerCustomer: Int? = nil, active: Bool? = nil
        ) {
            self.code = code
            self.name = name
            self.type = type
            self.bonusType = bonusType
            self.bonusValue = bonusValue
            self.minDeposit = minDeposit
            self.maxBonus = maxBonus
            self.startsAt = startsAt
            self.endsAt = endsAt
            self.maxTotalUses = maxTotalUses
            self.maxUsesPerCustomer = maxUsesPerCustomer
            self.active = active
        }
    }

    public var action: Action
    public var promoId: UUID
    public var fields: Fields
    /// Update only: fields set back to none. Absent in messages of earlier versions.
    public var cleared: [ClearableField]?

    public init(action: Action, promoId: UUID, fields: Fields, cleared: [ClearableField]? = nil) {
        self.action = action
        self.promoId = promoId
        self.fields = fields
        self.cleared = cleared
    }
}

extension ManagePromo {
    /// The promo a create command makes, derived from the command id.
    public static func promoId(for commandId: UUID) -> UUID {
        MessageID.derive("promo", commandId.uuidString)
    }
}
