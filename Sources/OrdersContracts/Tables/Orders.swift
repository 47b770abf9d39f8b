import Foundation
import Messaging
import Postgres

public enum OrderStatus: String, Sendable, Codable, CaseIterable {
    case pending = "PENDING", processing = "PROCESSING", provisioning = "PROVISIONING", active = "ACTIVE"
    case expiringSoon = "EXPIRING_SOON", suspended = "SUSPENDED", terminated = "TERMINATED", failed = "FAILED"

    public init(stored: String) throws {
        guard let status = OrderStatus(rawValue: stored) else {
            throw PostgresError(kind: .decoding, message: "unknown order status '\(stored)'")
        }
        self = status
    }

    /// Before the droplet is up: a failure here refunds.
    public var isPreActive: Bool { [.pending, .processing, .provisioning].contains(self) }
    /// The customer has a running (or suspended) VPS they may power, reboot or rebuild.
    public var allowsDropletActions: Bool { [.active, .expiringSoon, .suspended].contains(self) }
}

/// One line of an order's status history.
public struct OrderHistoryEntry: Codable, Sendable, Equatable {
    public var from: OrderStatus?
    public var to: OrderStatus
    public var actor: String
    public var reason: String?
    public var at: Date
}

/// A customer's power, reboot or rebuild request as the API shows it.
public struct OrderActionView: Codable, Sendable, Equatable {
    public var id: String
    public var action: String
    public var image: String?
    public var status: String
    public var error: String?
    public var requestedAt: Date
    public var completedAt: Date?
}

/// An order as the API shows it.
public struct OrderView: Codable, Sendable, Equatable {
    public var id: String
    public var status: OrderStatus
    public var planId: String
    public var planName: String
    public var image: String
    public var region: String
    public var billingPeriod: BillingPeriod
    public var price: Int64
    public var hostname: String
    public var autoRenew: Bool
    /// The droplet's status as DigitalOcean last confirmed it: `new`, `active`, `off`; nil before there is one.
    public var dropletStatus: String?
    public var publicIpv4: String?
    public var activatedAt: Date?
    public var expiresAt: Date?
    public var suspendedAt: Date?
    public var terminatedAt: Date?
    public var terminationReason: String?
    public var failureCode: String?
    public var failureReason: String?
    /// For INSUFFICIENT_BALANCE: `balance`, `required`, `deficit`.
    public var failureDetail: FailureDetail?
    public var createdAt: Date
    /// Only on a single order (`GET /orders/{id}`).
    public var history: [OrderHistoryEntry]?
    public var actions: [OrderActionView]?
}

public struct FailureDetail: Codable, Sendable, Equatable {
    public var balance: Int64?
    public var required: Int64?
    public var deficit: Int64?

    public init(balance: Int64?, required: Int64?, deficit: Int64?) {
        self.balance = balance
        self.required = required
        self.deficit = deficit
    }
}

/// What an order's handlers need to know about it (not shown to customers as is).
public struct OrderRecord: Sendable, Equatable {
    public var id: UUID
    public var customerId: String
    public var status: OrderStatus
    public var planId: UUID
    public var sizeSlug: String
    public var image: String
    public var region: String
    public var billingPeriod: BillingPeriod
    public var price: Int64
    public var hostname: String
    public var sshKeys: [String]
    public var accountId: UUID?
    public var triedAccounts: [UUID]
    public var dropletId: Int64?
    public var createActionId: Int64?
    public var paidAt: Date?
    public var provisioningDeadline: Date?
    /// When the provisioner recorded the droplet: its boot timeout runs from here.
    public var dropletRecordedAt: Date?
    public var provisioningRound: Int
    public var counted: Bool
    public var expiresAt: Date?
    public var autoRenew: Bool
    public var suspendedAt: Date?
}

/// The `orders` table and its history. Reads here, always scoped to one customer where a
/// customer asks; the provisioner's writes are in `Provisioning` (`Orders+Writes`).
public enum Orders {
    static let viewColumns = """
        id, status, plan_id, plan_name, image, region, billing_period, price, hostname, auto_renew, droplet_status, public_ipv4,
        activated_at, expires_at, suspended_at, terminated_at, termination_reason, failure_code, failure_reason, failure_detail::text AS failure_detail, created_at
        """

    /// The customer's own order with its history; nil for another customer's.
    public static func view(_ id: UUID, customerId: String, on connection: PGConnection) throws -> OrderView? {
        guard
            var view = try connection.query("SELECT \(viewColumns) FROM orders WHERE id = $1 AND customer_id = $2", id, customerId)
                .first.map(decodeView)
        else { return nil }
        view.history = try history(id, on: connection)
        view.actions = try connection.query(
            """
            SELECT id, action, image, status, error, requested_at, completed_at FROM order_actions
            WHERE order_id = $1 ORDER BY requested_at DESC, id LIMIT 20
            """, id
        ).map { row in
            OrderActionView(
                id: try row.decode("id", as: UUID.self).uuidString.lowercased(), action: try row.decode("action"),
                image: try row.decode("image"), status: try row.decode("status"), error: try row.decode("error"),
                requestedAt: try row.decode("requested_at"), completedAt: try row.decode("completed_at"))
        }
        return view
    }

    /// Newest first, `limit` at a time; `before` is the cursor (the last page's last order).
    public static func views(customerId: String, limit: Int, before: (createdAt: Date, id: UUID)?, on connection: PGConnection) throws
        -> [OrderView]
    {
        if let before {
            return try connection.query(
                """
                SELECT \(viewColumns) FROM orders WHERE customer_id = $1 AND (created_at, id) < ($2, $3)
                ORDER BY created_at DESC, id DESC LIMIT $4
                """, customerId, before.createdAt, before.id, limit
            ).map(decodeView)
        }
        return try connection.query(
            "SELECT \(viewColumns) FROM orders WHERE customer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2", customerId, limit
        ).map(decodeView)
    }

    public static func history(_ id: UUID, on connection: PGConnection) throws -> [OrderHistoryEntry] {
        try connection.query(
            "SELECT from_status, to_status, actor, reason, at FROM order_status_history WHERE order_id = $1 ORDER BY id", id
        ).map { row in
            OrderHistoryEntry(
                from: try (row.decode("from_status", as: String?.self)).map(OrderStatus.init(stored:)),
                to: try OrderStatus(stored: try row.decode("to_status")), actor: try row.decode("actor"), reason: try row.decode("reason"),
                at: try row.decode("at"))
        }
    }

    /// The order (any customer's), for handlers; `lock` takes `FOR UPDATE`.
    public static func record(_ id: UUID, lock: Bool = false, on connection: PGConnection) throws -> OrderRecord? {
        try connection.query(
            """
            SELECT id, customer_id, status, plan_id, size_slug, image, region, billing_period, price, hostname, ssh_keys::text AS ssh_keys,
                   do_account_id, array_to_string(tried_accounts, ',') AS tried_accounts, droplet_id, create_action_id, paid_at, provisioning_deadline, droplet_recorded_at, provisioning_round, counted, expires_at, auto_renew, suspended_at
            FROM orders WHERE id = $1\(lock ? " FOR UPDATE" : "")
            """, id
        ).first.map { row in
            let keys = try JSONDecoder().decode([String].self, from: Data((try row.decode("ssh_keys", as: String.self)).utf8))
            return OrderRecord(
                id: try row.decode("id"), customerId: try row.decode("customer_id"),
                status: try OrderStatus(stored: try row.decode("status")),
                planId: try row.decode("plan_id"), sizeSlug: try row.decode("size_slug"), image: try row.decode("image"),
                region: try row.decode("region"), billingPeriod: try BillingPeriod(stored: try row.decode("billing_period")),
                price: try row.decode("price"), hostname: try row.decode("hostname"), sshKeys: keys,
                accountId: try row.decode("do_account_id"),
                triedAccounts: (try row.decode("tried_accounts", as: String.self)).split(separator: ",").compactMap {
                    UUID(uuidString: String($0))
                },
                dropletId: try row.decode("droplet_id"),
                createActionId: try row.decode("create_action_id"), paidAt: try row.decode("paid_at"),
                provisioningDeadline: try row.decode("provisioning_deadline"), dropletRecordedAt: try row.decode("droplet_recorded_at"),
                provisioningRound: try row.decode("provisioning_round"),
                counted: try row.decode("counted"), expiresAt: try row.decode("expires_at"), autoRenew: try row.decode("auto_renew"),
                suspendedAt: try row.decode("suspended_at"))
        }
    }

    static func decodeView(_ row: PostgresRow) throws -> OrderView {
        OrderView(
            id: try row.decode("id", as: UUID.self).uuidString.lowercased(), status: try OrderStatus(stored: try row.decode("status")),
            planId: try row.decode("plan_id", as: UUID.self).uuidString.lowercased(), planName: try row.decode("plan_name"),
            image: try row.decode("image"), region: try row.decode("region"),
            billingPeriod: try BillingPeriod(stored: try row.decode("billing_period")), price: try row.decode("price"),
            hostname: try row.decode("hostname"), autoRenew: try row.decode("auto_renew"), dropletStatus: try row.decode("droplet_status"),
            publicIpv4: try row.decode("public_ipv4"), activatedAt: try row.decode("activated_at"), expiresAt: try row.decode("expires_at"),
            suspendedAt: try row.decode("suspended_at"), terminatedAt: try row.decode("terminated_at"),
            terminationReason: try row.decode("termination_reason"), failureCode: try row.decode("failure_code"),
            failureReason: try row.decode("failure_reason"),
            failureDetail: try (row.decode("failure_detail", as: String?.self)).flatMap {
                try? JSONDecoder().decode(FailureDetail.self, from: Data($0.utf8))
            }, createdAt: try row.decode("created_at"), history: nil, actions: nil)
    }
}
