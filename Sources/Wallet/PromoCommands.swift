import Foundation
import Messaging
import Postgres

/// `POST /promos/welcome-bonus/claim`.
public struct ClaimWelcomeBonus: MessageBody, Equatable {
    public static let messageType = "payments.claim-welcome-bonus"
    public static let exchange = Exchange.commands
    public var customerId: String
    public init(customerId: String) { self.customerId = customerId }
}

/// WELCOME_BONUS_CREDITED.
public struct WelcomeBonusCredited: MessageBody, Equatable {
    public static let messageType = "event.welcome-bonus.credited"
    public static let exchange = Exchange.events
    public var customerId: String
    public var promoCode: String
    public var amount: Int64
    public var balanceAfter: Int64
}

/// Claim and credit in one transaction: the promo row lock and the ledger's reference
/// (promo, customer) make a second claim, even a concurrent one, fail with PROMO_ALREADY_USED.
public struct ClaimWelcomeBonusHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<ClaimWelcomeBonus>, context: inout HandlerContext) throws {
        let customer = message.data.customerId
        guard let welcome = try Promos.activeWelcome(on: context.connection) else {
            throw HandlerFailure.permanent(PromoRejection.notFound.rawValue, "there is no welcome bonus right now")
        }
        switch try Promos.redeem(code: welcome.code, customerId: customer, depositId: nil, amount: nil, now: Date(), on: context.connection)
        {
        case .failure(let rejection):
            throw HandlerFailure.permanent(rejection.rawValue, rejection.message)
        case .success(let (promo, bonus)):
            let posting = try Ledger.credit(
                customer, amount: bonus, reference: .welcomeBonus, referenceId: "\(promo.id.uuidString.lowercased()):\(customer)",
                description: "Welcome bonus \(promo.code)", on: context.connection)
            try context.send(
                Envelope(
                    id: MessageID.derive("welcome-bonus", promo.id.uuidString, customer),
                    data: WelcomeBonusCredited(
                        customerId: customer, promoCode: promo.code, amount: bonus, balanceAfter: posting.entry.balanceAfter)))
            try context.complete(with: ["amount": bonus, "balanceAfter": posting.entry.balanceAfter])
        }
    }
}

/// Admin: create, update or deactivate a promo.
public struct ManagePromo: MessageBody, Equatable {
    public static let messageType = "payments.manage-promo"
    public static let exchange = Exchange.commands

    public enum Action: String, Codable, Sendable { case create, update, deactivate }

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

    public init(action: Action, promoId: UUID, fields: Fields) {
        self.action = action
        self.promoId = promoId
        self.fields = fields
    }
}

public struct ManagePromoHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<ManagePromo>, context: inout HandlerContext) throws {
        let command = message.data
        let f = command.fields
        let connection = context.connection
        do {
            switch command.action {
            case .create:
                guard let code = f.code, let name = f.name, let type = f.type, let bonusType = f.bonusType, let value = f.bonusValue else {
                    throw HandlerFailure.permanent("VALIDATION_FAILED", "code, name, type, bonusType and bonusValue are required")
                }
                try connection.execute(
                    """
                    INSERT INTO promos (id, code, name, promo_type, bonus_type, bonus_value, min_deposit, max_bonus, starts_at, ends_at,
                                        max_total_uses, max_uses_per_customer, active)
                    VALUES ($1, upper($2), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                    """, command.promoId, code, name, type.rawValue, bonusType.rawValue, value, f.minDeposit ?? 0, f.maxBonus, f.startsAt,
                    f.endsAt, f.maxTotalUses, f.maxUsesPerCustomer ?? 1, f.active ?? true)
            case .update:
                guard f.code == nil, f.type == nil, f.bonusType == nil else {
                    throw HandlerFailure.permanent("PROMO_FIELD_IMMUTABLE", "code, type and bonus type cannot be changed")
                }
                let updated = try connection.execute(
                    """
                    UPDATE promos SET name = COALESCE($2, name), bonus_value = COALESCE($3, bonus_value),
                        min_deposit = COALESCE($4, min_deposit), max_bonus = COALESCE($5, max_bonus), starts_at = COALESCE($6, starts_at),
                        ends_at = COALESCE($7, ends_at), max_total_uses = COALESCE($8, max_total_uses),
                        max_uses_per_customer = COALESCE($9, max_uses_per_customer), active = COALESCE($10, active), updated_at = now()
                    WHERE id = $1
                    """, command.promoId, f.name, f.bonusValue, f.minDeposit, f.maxBonus, f.startsAt, f.endsAt, f.maxTotalUses,
                    f.maxUsesPerCustomer, f.active)
                guard updated == 1 else { throw HandlerFailure.permanent("PROMO_NOT_FOUND", "no such promo") }
            case .deactivate:
                // Deactivated, never deleted: redemptions keep referring to it.
                guard try connection.execute("UPDATE promos SET active = false, updated_at = now() WHERE id = $1", command.promoId) == 1
                else {
                    throw HandlerFailure.permanent("PROMO_NOT_FOUND", "no such promo")
                }
            }
        } catch let error as PostgresError where error.sqlState == PostgresError.uniqueViolation {
            let code = error.constraint == "promos_one_active_welcome" ? "WELCOME_BONUS_ALREADY_ACTIVE" : "PROMO_CODE_TAKEN"
            throw HandlerFailure.permanent(
                code, error.constraint == "promos_one_active_welcome" ? "another welcome bonus is active" : "a promo with this code exists")
        } catch let error as PostgresError
            where error.sqlState == PostgresError.checkViolation || error.sqlState == "22007" || error.sqlState == "22008"
        {
            throw HandlerFailure.permanent("VALIDATION_FAILED", "the promo's values are inconsistent: \(error.constraint ?? error.message)")
        }
        guard let promo = try Promos.find(id: command.promoId, on: connection) else {
            throw HandlerFailure.permanent("PROMO_NOT_FOUND", "no such promo")
        }
        try context.complete(with: promo)
    }
}

/// Admin: a signed correction of a customer's balance, through the ledger.
public struct AdjustWallet: MessageBody, Equatable {
    public static let messageType = "payments.adjust-wallet"
    public static let exchange = Exchange.commands
    public var customerId: String
    /// Positive credits, negative debits.
    public var amount: Int64
    public var description: String
    public var adminId: String

    public init(customerId: String, amount: Int64, description: String, adminId: String) {
        self.customerId = customerId
        self.amount = amount
        self.description = description
        self.adminId = adminId
    }
}

public struct AdjustWalletHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<AdjustWallet>, context: inout HandlerContext) throws {
        let command = message.data
        let reference = (message.commandId ?? message.id).uuidString.lowercased()
        let metadata = String(decoding: try JSONEncoder().encode(["adminId": command.adminId]), as: UTF8.self)
        do {
            let posting =
                command.amount > 0
                ? try Ledger.credit(
                    command.customerId, amount: command.amount, reference: .adminAdjustment, referenceId: reference,
                    description: command.description, metadata: metadata, on: context.connection)
                : try Ledger.debit(
                    command.customerId, amount: -command.amount, reference: .adminAdjustment, referenceId: reference,
                    description: command.description, metadata: metadata, on: context.connection)
            try context.complete(with: ["balanceAfter": posting.entry.balanceAfter])
        } catch let error as WalletError {
            throw HandlerFailure.permanent(error.code, error.description)
        }
    }
}
