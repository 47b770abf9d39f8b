import Foundation
import Messaging
import Postgres
import WalletContracts

/// The payments worker's writes to `promos` and `promo_redemptions`.
extension Promos {
    /// Redeems a promo inside the caller's transaction, checked at `now` (a deposit's payment
    /// time): the promo row is locked first, so concurrent redemptions take turns and
    /// `max total uses` holds; the database's own check (`uses <= max_total_uses`) is the backstop.
    static func redeem(
        code: String, customerId: String, depositId: UUID?, amount: Int64?, now: Date, on connection: PGConnection
    ) throws -> Result<(Promo, Int64), PromoRejection> {
        guard
            let promo = try connection.query("SELECT \(Promo.columns) FROM promos WHERE code = upper($1) FOR UPDATE", code).first.map(
                Promo.init(row:))
        else { return .failure(.notFound) }
        let uses = try customerUses(promo.id, customerId, on: connection)
        switch PromoRules.evaluate(promo, customerUses: uses, amount: amount, now: now) {
        case .failure(let rejection):
            return .failure(rejection)
        case .success(let bonus):
            try connection.execute(
                "INSERT INTO promo_redemptions (promo_id, customer_id, deposit_id, bonus) VALUES ($1, $2, $3, $4)",
                promo.id, customerId, depositId, bonus)
            try connection.execute("UPDATE promos SET uses = uses + 1, updated_at = now() WHERE id = $1", promo.id)
            return .success((promo, bonus))
        }
    }

    /// Creates a promo; a taken code or a second active welcome bonus is a rejection.
    static func create(_ id: UUID, fields f: ManagePromo.Fields, on connection: PGConnection) throws -> Rejection? {
        guard let code = f.code, let name = f.name, let type = f.type, let bonusType = f.bonusType, let value = f.bonusValue else {
            return Rejection(.validationFailed, "code, name, type, bonusType and bonusValue are required")
        }
        guard type != .welcomeBonus || bonusType == .fixedAmount else {
            return Rejection(.validationFailed, "a welcome bonus is a fixed amount")
        }
        return try refusingConflicts(on: connection) {
            try connection.execute(
                """
                INSERT INTO promos (id, code, name, promo_type, bonus_type, bonus_value, min_deposit, max_bonus, starts_at, ends_at,
                                    max_total_uses, max_uses_per_customer, active)
                VALUES ($1, upper($2), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                """, id, code, name, type.rawValue, bonusType.rawValue, value, f.minDeposit ?? 0, f.maxBonus, f.startsAt, f.endsAt,
                f.maxTotalUses, f.maxUsesPerCustomer ?? 1, f.active ?? true)
            return nil
        }
    }

    /// Updates the mutable fields (nil: unchanged; `cleared`: set back to none).
    static func update(_ id: UUID, fields f: ManagePromo.Fields, cleared: [ManagePromo.ClearableField], on connection: PGConnection) throws
        -> Rejection?
    {
        let clear = Set(cleared)
        return try refusingConflicts(on: connection) {
            let updated = try connection.execute(
                """
                UPDATE promos SET name = COALESCE($2, name), bonus_value = COALESCE($3, bonus_value),
                    min_deposit = COALESCE($4, min_deposit),
                    max_bonus = CASE WHEN $11 THEN NULL ELSE COALESCE($5, max_bonus) END,
                    starts_at = CASE WHEN $12 THEN NULL ELSE COALESCE($6, starts_at) END,
                    ends_at = CASE WHEN $13 THEN NULL ELSE COALESCE($7, ends_at) END,
                    max_total_uses = CASE WHEN $14 THEN NULL ELSE COALESCE($8, max_total_uses) END,
                    max_uses_per_customer = COALESCE($9, max_uses_per_customer), active = COALESCE($10, active), updated_at = now()
                WHERE id = $1
                """, id, f.name, f.bonusValue, f.minDeposit, f.maxBonus, f.startsAt, f.endsAt, f.maxTotalUses, f.maxUsesPerCustomer,
                f.active, clear.contains(.maxBonus), clear.contains(.startsAt), clear.contains(.endsAt), clear.contains(.maxTotalUses))
            return updated == 1 ? nil : Rejection(.promoNotFound, "no such promo")
        }
    }

    /// Deactivated, never deleted: redemptions keep referring to it.
    static func deactivate(_ id: UUID, on connection: PGConnection) throws -> Rejection? {
        try connection.execute("UPDATE promos SET active = false, updated_at = now() WHERE id = $1", id) == 1
            ? nil : Rejection(.promoNotFound, "no such promo")
    }

    /// Runs a write inside a savepoint, turning the constraints' refusals into rejections.
    private static func refusingConflicts(on connection: PGConnection, _ write: () throws -> Rejection?) throws -> Rejection? {
        try connection.execute("SAVEPOINT promo_write")
        do {
            let rejection = try write()
            try connection.execute("RELEASE SAVEPOINT promo_write")
            return rejection
        } catch let error as PostgresError where error.sqlState == PostgresError.uniqueViolation {
            try connection.execute("ROLLBACK TO SAVEPOINT promo_write")
            return error.constraint == "promos_one_active_welcome"
                ? Rejection(.welcomeBonusAlreadyActive, "another welcome bonus is active")
                : Rejection(.promoCodeTaken, "a promo with this code exists")
        } catch let error as PostgresError
            where error.sqlState == PostgresError.checkViolation || error.sqlState == "22007" || error.sqlState == "22008"
        {
            try connection.execute("ROLLBACK TO SAVEPOINT promo_write")
            return Rejection(.validationFailed, "the promo's values are inconsistent: \(error.constraint ?? error.message)")
        }
    }
}
