import Foundation
import Messaging
import Postgres

public struct Promo: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case depositBonus = "DEPOSIT_BONUS", welcomeBonus = "WELCOME_BONUS", specialEvent = "SPECIAL_EVENT"
    }
    public enum BonusType: String, Codable, Sendable { case percentage = "PERCENTAGE", fixedAmount = "FIXED_AMOUNT" }

    public var id: UUID
    public var code: String
    public var name: String
    public var type: Kind
    public var bonusType: BonusType
    public var bonusValue: Int64
    public var minDeposit: Int64
    public var maxBonus: Int64?
    public var startsAt: Date?
    public var endsAt: Date?
    public var maxTotalUses: Int?
    public var maxUsesPerCustomer: Int
    public var uses: Int
    public var active: Bool

    public init(
        id: UUID, code: String, name: String, type: Kind, bonusType: BonusType, bonusValue: Int64, minDeposit: Int64, maxBonus: Int64?,
        startsAt: Date?, endsAt: Date?, maxTotalUses: Int?, maxUsesPerCustomer: Int, uses: Int, active: Bool
    ) {
        self.id = id
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
        self.uses = uses
        self.active = active
    }

    enum CodingKeys: String, CodingKey {
        case id, code, name, type, bonusType, bonusValue, minDeposit, maxBonus, startsAt, endsAt, maxTotalUses, maxUsesPerCustomer, uses,
            active
    }

    /// Ids leave in lower case, like every id the API shows.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id.uuidString.lowercased(), forKey: .id)
        try c.encode(code, forKey: .code)
        try c.encode(name, forKey: .name)
        try c.encode(type, forKey: .type)
        try c.encode(bonusType, forKey: .bonusType)
        try c.encode(bonusValue, forKey: .bonusValue)
        try c.encode(minDeposit, forKey: .minDeposit)
        try c.encodeIfPresent(maxBonus, forKey: .maxBonus)
        try c.encodeIfPresent(startsAt, forKey: .startsAt)
        try c.encodeIfPresent(endsAt, forKey: .endsAt)
        try c.encodeIfPresent(maxTotalUses, forKey: .maxTotalUses)
        try c.encode(maxUsesPerCustomer, forKey: .maxUsesPerCustomer)
        try c.encode(uses, forKey: .uses)
        try c.encode(active, forKey: .active)
    }

    /// Percentage: floor(deposit × value / 100), capped at `maxBonus`; fixed: the value (DOMAIN.md).
    public func bonus(for amount: Int64) -> Int64 {
        let raw: Int64
        switch bonusType {
        case .percentage: raw = amount * bonusValue / 100
        case .fixedAmount: raw = bonusValue
        }
        return maxBonus.map { min(raw, $0) } ?? raw
    }
}

/// Why a promo does not apply, in DOMAIN.md's validation order.
public enum PromoRejection: Error, Sendable, CaseIterable {
    case notFound, inactive, expired, exhausted, alreadyUsed, minimumDepositNotMet

    public var code: ErrorCode {
        switch self {
        case .notFound: return .promoNotFound
        case .inactive: return .promoInactive
        case .expired: return .promoExpired
        case .exhausted: return .promoExhausted
        case .alreadyUsed: return .promoAlreadyUsed
        case .minimumDepositNotMet: return .promoMinDepositNotMet
        }
    }

    public var rejection: Rejection { Rejection(code, message) }

    public var message: String {
        switch self {
        case .notFound: return "no promo with this code"
        case .inactive: return "this promo is not active"
        case .expired: return "this promo is outside its validity window"
        case .exhausted: return "this promo has been used up"
        case .alreadyUsed: return "you have already used this promo"
        case .minimumDepositNotMet: return "the deposit is below this promo's minimum"
        }
    }
}

public enum PromoRules {
    /// The bonus `promo` gives a deposit of `amount` (nil for a welcome bonus, which has no
    /// deposit), or the first rule it breaks, checked in DOMAIN.md's order.
    public static func evaluate(_ promo: Promo?, customerUses: Int, amount: Int64?, now: Date) -> Result<Int64, PromoRejection> {
        guard let promo else { return .failure(.notFound) }
        // Only deposit promos apply to a deposit; the welcome bonus is claimed on its own.
        if amount != nil && promo.type == .welcomeBonus { return .failure(.notFound) }
        guard promo.active else { return .failure(.inactive) }
        if let start = promo.startsAt, now < start { return .failure(.expired) }
        if let end = promo.endsAt, now >= end { return .failure(.expired) }
        if let limit = promo.maxTotalUses, promo.uses >= limit { return .failure(.exhausted) }
        // A welcome bonus is once per customer, whatever max uses per customer says.
        let perCustomer = promo.type == .welcomeBonus ? 1 : promo.maxUsesPerCustomer
        guard customerUses < perCustomer else { return .failure(.alreadyUsed) }
        if let amount {
            guard amount >= promo.minDeposit else { return .failure(.minimumDepositNotMet) }
            return .success(promo.bonus(for: amount))
        }
        return .success(promo.bonus(for: 0))
    }
}

extension Promo {
    /// The promo columns every read selects.
    public static let columns = """
        id, code, name, promo_type, bonus_type, bonus_value, min_deposit, max_bonus, starts_at, ends_at, max_total_uses,
        max_uses_per_customer, uses, active
        """

    /// A row of `promos`; an unknown type is an error, not a crash.
    public init(row: PostgresRow) throws {
        let kind: String = try row.decode("promo_type")
        let bonus: String = try row.decode("bonus_type")
        guard let type = Kind(rawValue: kind), let bonusType = BonusType(rawValue: bonus) else {
            throw PostgresError(kind: .decoding, message: "unknown promo type \(kind)/\(bonus)")
        }
        self.init(
            id: try row.decode("id"), code: try row.decode("code"), name: try row.decode("name"), type: type, bonusType: bonusType,
            bonusValue: try row.decode("bonus_value"), minDeposit: try row.decode("min_deposit"), maxBonus: try row.decode("max_bonus"),
            startsAt: try row.decode("starts_at"), endsAt: try row.decode("ends_at"),
            maxTotalUses: try row.decode("max_total_uses", as: Int?.self),
            maxUsesPerCustomer: try row.decode("max_uses_per_customer"), uses: try row.decode("uses"), active: try row.decode("active"))
    }
}
