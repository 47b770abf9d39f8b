import Foundation
import Messaging
import Postgres

/// The `promos` and `promo_redemptions` tables. Reads here (the API's preview and admin list,
/// and the worker's checks); writes are the payments worker's (`Wallet`, `Promos+Writes`).
public enum Promos {
    /// Checks a code for a customer without redeeming it (preview, and the check at deposit creation).
    public static func evaluate(code: String, customerId: String, amount: Int64?, now: Date, on connection: PGConnection) throws
        -> Result<(Promo, Int64), PromoRejection>
    {
        guard let promo = try find(code: code, on: connection) else { return .failure(.notFound) }
        let uses = try customerUses(promo.id, customerId, on: connection)
        return PromoRules.evaluate(promo, customerUses: uses, amount: amount, now: now).map { (promo, $0) }
    }

    public static func find(code: String, on connection: PGConnection) throws -> Promo? {
        try connection.query("SELECT \(Promo.columns) FROM promos WHERE code = upper($1)", code).first.map(Promo.init(row:))
    }

    public static func find(id: UUID, on connection: PGConnection) throws -> Promo? {
        try connection.query("SELECT \(Promo.columns) FROM promos WHERE id = $1", id).first.map(Promo.init(row:))
    }

    public static func activeWelcome(on connection: PGConnection) throws -> Promo? {
        try connection.query("SELECT \(Promo.columns) FROM promos WHERE promo_type = 'WELCOME_BONUS' AND active").first.map(
            Promo.init(row:))
    }

    public static func all(on connection: PGConnection) throws -> [Promo] {
        try connection.query("SELECT \(Promo.columns) FROM promos ORDER BY created_at DESC").map(Promo.init(row:))
    }

    public static func customerUses(_ promoId: UUID, _ customerId: String, on connection: PGConnection) throws -> Int {
        try connection.query(
            "SELECT count(*)::int AS n FROM promo_redemptions WHERE promo_id = $1 AND customer_id = $2", promoId, customerId
        ).first?.decode("n") ?? 0
    }
}
