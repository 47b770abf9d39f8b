import Foundation
import Postgres

/// A delivery's state: `queued` (waiting or being retried), `sent`, `failed` (refused for good,
/// or retries used up: see `error`), `skipped` (not sent on purpose: see `error`).
public enum DeliveryStatus: String, Codable, Sendable, CaseIterable {
    case queued, sent, failed, skipped
}

public enum DeliveryChannel: String, Codable, Sendable, CaseIterable {
    case email, telegram
}

/// One channel's delivery of a notification, as `GET /notifications` shows it.
public struct DeliveryView: Codable, Sendable, Equatable {
    public var channel: DeliveryChannel
    public var status: DeliveryStatus
    public var attempts: Int
    public var sentAt: Date?
    public var error: String?
}

/// One notification (one per customer-facing event), as `GET /notifications` shows it.
/// `status`: `queued` while any delivery is; else `sent` when a channel delivered it; else
/// `failed` when one failed; else `skipped` (no channel, or not sent on purpose).
public struct NotificationView: Codable, Sendable, Equatable {
    public var id: String
    public var type: String
    public var occurredAt: Date
    public var subject: String
    public var status: DeliveryStatus
    public var data: [String: JSONScalar]
    public var deliveries: [DeliveryView]
}

/// An event's data as JSON: strings, numbers, booleans (every event's fields are flat).
public enum JSONScalar: Codable, Sendable, Equatable {
    case string(String), int(Int64), double(Double), bool(Bool), null

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }
}

/// The `notifications` and `notification_deliveries` tables' reads. Written by `armada-notifier`
/// (`Notifications`).
public enum Notifications {
    /// The item's status from its deliveries' (see `NotificationView`).
    public static func status(of deliveries: [DeliveryStatus]) -> DeliveryStatus {
        if deliveries.contains(.queued) { return .queued }
        if deliveries.contains(.sent) { return .sent }
        if deliveries.contains(.failed) { return .failed }
        return .skipped
    }

    /// The customer's notifications, newest first, `limit` at a time; `before` is the cursor
    /// (the last page's last item's time and id).
    public static func views(customerId: String, limit: Int, before: (occurredAt: Date, id: UUID)?, on connection: PGConnection) throws
        -> [NotificationView]
    {
        let rows =
            if let before {
                try connection.query(
                    """
                    SELECT id, kind, occurred_at, subject, data::text AS data FROM notifications
                    WHERE customer_id = $1 AND (occurred_at, id) < ($2, $3) ORDER BY occurred_at DESC, id DESC LIMIT $4
                    """, customerId, before.occurredAt, before.id, limit)
            } else {
                try connection.query(
                    """
                    SELECT id, kind, occurred_at, subject, data::text AS data FROM notifications
                    WHERE customer_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT $2
                    """, customerId, limit)
            }
        var views = try rows.map { row -> NotificationView in
            let data = try row.decode("data", as: String.self)
            return NotificationView(
                id: (try row.decode("id", as: UUID.self)).uuidString.lowercased(), type: try row.decode("kind"),
                occurredAt: try row.decode("occurred_at"), subject: try row.decode("subject"), status: .skipped,
                data: (try? JSONDecoder().decode([String: JSONScalar].self, from: Data(data.utf8))) ?? [:], deliveries: [])
        }
        guard !views.isEmpty else { return views }
        let ids = views.map(\.id).joined(separator: ",")
        let deliveries = try connection.query(
            """
            SELECT notification_id, channel, status, attempts, sent_at, last_error FROM notification_deliveries
            WHERE notification_id = ANY(string_to_array($1, ',')::uuid[]) ORDER BY channel
            """, ids)
        var byNotification: [String: [DeliveryView]] = [:]
        for row in deliveries {
            let id = (try row.decode("notification_id", as: UUID.self)).uuidString.lowercased()
            guard let channel = DeliveryChannel(rawValue: try row.decode("channel")),
                let status = DeliveryStatus(rawValue: try row.decode("status"))
            else { continue }
            byNotification[id, default: []].append(
                DeliveryView(
                    channel: channel, status: status, attempts: try row.decode("attempts"), sentAt: try row.decode("sent_at"),
                    error: try row.decode("last_error")))
        }
        for index in views.indices {
            views[index].deliveries = byNotification[views[index].id] ?? []
            views[index].status = status(of: views[index].deliveries.map(\.status))
        }
        return views
    }
}
