import Foundation
import Messaging
import OrdersContracts
import Postgres

/// The provisioner's writes to `orders` and `order_status_history`. Every transition names the
/// states it may leave (the WHERE clause), and is written to the history with actor and reason.
extension Orders {
    /// Records a new order (PENDING). False when it exists already.
    static func insert(_ order: PlaceOrder, commandId: UUID?, at now: Date, on connection: PGConnection) throws -> Bool {
        let keys = String(decoding: try JSONEncoder().encode(order.sshKeys), as: UTF8.self)
        let inserted = try !connection.query(
            """
            INSERT INTO orders (id, customer_id, plan_id, plan_name, size_slug, image, region, billing_period, price, hostname, ssh_keys,
                                auto_renew, status, command_id, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, 'PENDING', $13, $14)
            ON CONFLICT (id) DO NOTHING RETURNING id
            """, order.orderId, order.customerId, order.planId, order.planName, order.sizeSlug, order.image, order.region,
            order.billingPeriod.rawValue, order.price, order.hostname, keys, order.autoRenew, commandId, now
        ).isEmpty
        if inserted {
            try history(
                order.orderId, from: nil, to: .pending, actor: "customer:\(order.customerId)", reason: "ordered", at: now, on: connection)
        }
        return inserted
    }

    /// Moves the order from one of `from` to `to`, setting `assignments` (SQL `column = $n`, with
    /// `values` numbered from $3). False when the order is not in one of `from` (nothing written).
    @discardableResult
    public static func transition(
        _ id: UUID, from: [OrderStatus], to: OrderStatus, actor: String, reason: String?, at now: Date, set assignments: String = "",
        _ values: [any PostgresEncodable] = [], on connection: PGConnection
    ) throws -> Bool {
        let extra = assignments.isEmpty ? "" : ", " + assignments
        guard let row = try connection.query("SELECT status FROM orders WHERE id = $1 FOR UPDATE", id).first else { return false }
        let current = try OrderStatus(stored: try row.decode("status"))
        guard from.contains(current) else { return false }
        try connection.query(
            "UPDATE orders SET status = $2, updated_at = now()\(extra) WHERE id = $1", parameters: [id, to.rawValue] + values)
        try history(id, from: current, to: to, actor: actor, reason: reason, at: now, on: connection)
        return true
    }

    public static func history(
        _ id: UUID, from: OrderStatus?, to: OrderStatus, actor: String, reason: String?, at now: Date, on connection: PGConnection
    ) throws {
        try connection.execute(
            "INSERT INTO order_status_history (order_id, from_status, to_status, actor, reason, at) VALUES ($1, $2, $3, $4, $5, $6)", id,
            from?.rawValue, to.rawValue, actor, reason, now)
    }

    struct CreateLease {
        var attempt: Int
        /// Seconds left of the quiet period after a create went unanswered (it may still
        /// appear), measured on the database's clock, which also stamped that create; 0 when
        /// none is left or no create went unanswered.
        var quietLeft: Double
    }

    /// Takes the right to create the droplet for `seconds` (one delivery at a time). Nil when
    /// another delivery holds it.
    static func leaseCreate(
        _ id: UUID, round: Int, holder: UUID, forSeconds seconds: Int, quiet: TimeInterval, on connection: PGConnection
    ) throws -> CreateLease? {
        try connection.query(
            """
            UPDATE orders SET create_holder = $3, create_lease_until = now() + make_interval(secs => $4),
                create_attempts = create_attempts + 1, updated_at = now()
            WHERE id = $1 AND provisioning_round = $2 AND status = 'PROCESSING'
              AND (create_lease_until IS NULL OR create_lease_until < now() OR create_holder = $3)
            RETURNING create_attempts,
                COALESCE(GREATEST(0, extract(epoch FROM ambiguous_create_at + make_interval(secs => $5) - now())), 0)::float8 AS quiet_left
            """, id, round, holder, seconds, quiet
        ).first.map { CreateLease(attempt: try $0.decode("create_attempts"), quietLeft: try $0.decode("quiet_left")) }
    }

    /// Whether `holder` still holds the create lease (checked in the atomic phase, order row locked).
    static func holdsCreate(_ id: UUID, holder: UUID, on connection: PGConnection) throws -> Bool {
        try !connection.query(
            "SELECT 1 FROM orders WHERE id = $1 AND create_holder = $2 AND create_lease_until > now()", id, holder
        ).isEmpty
    }

    /// Extends the lease `holder` holds; false when it holds it no more.
    static func renewCreate(_ id: UUID, holder: UUID, forSeconds seconds: Int, on connection: PGConnection) throws -> Bool {
        try !connection.query(
            """
            UPDATE orders SET create_lease_until = now() + make_interval(secs => $3)
            WHERE id = $1 AND create_holder = $2 AND create_lease_until > now() AND status = 'PROCESSING'
            RETURNING 1 AS held
            """, id, holder, Double(seconds)
        ).isEmpty
    }

    /// An account refused the token before any droplet was made there: not a place to look.
    static func unnoteTried(_ id: UUID, account: UUID, on connection: PGConnection) throws {
        try connection.execute(
            "UPDATE orders SET tried_accounts = array_remove(tried_accounts, $2), updated_at = now() WHERE id = $1", id, account)
    }

    /// A create went unanswered: the next may go only after a quiet period.
    static func noteAmbiguousCreate(_ id: UUID, on connection: PGConnection) throws {
        try connection.execute("UPDATE orders SET ambiguous_create_at = now(), updated_at = now() WHERE id = $1", id)
    }

    static func releaseCreate(_ id: UUID, holder: UUID, on connection: PGConnection) throws {
        try connection.execute(
            "UPDATE orders SET create_lease_until = NULL, create_holder = NULL WHERE id = $1 AND create_holder = $2", id, holder)
    }

    /// Remembers an account a create is about to go to, before it goes.
    static func noteTried(_ id: UUID, account: UUID, on connection: PGConnection) throws {
        try connection.execute(
            """
            UPDATE orders SET tried_accounts = array_append(tried_accounts, $2), updated_at = now()
            WHERE id = $1 AND NOT ($2 = ANY(tried_accounts))
            """, id, account)
    }

    /// The droplet is gone from the account's count: once per order.
    public static func uncount(_ id: UUID, on connection: PGConnection) throws {
        if let row = try connection.query(
            "UPDATE orders SET counted = false WHERE id = $1 AND counted RETURNING do_account_id", id
        ).first, let account: UUID = try row.decode("do_account_id") {
            try DOAccounts.count(account, by: -1, on: connection)
        }
    }
}
