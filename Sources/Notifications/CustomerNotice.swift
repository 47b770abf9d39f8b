import Foundation
import Messaging
import NotificationsContracts
import Postgres
import WalletContracts

/// An event the customer is told about. Each conforming event (in `Messages/`, in the file named
/// after it) names its kind — DOMAIN.md's name, whose lower-case, dashed form names its templates
/// — and the values its templates use.
protocol CustomerNotice: MessageBody {
    static var kind: String { get }
    var customerId: String { get }
    /// The template values besides `brand` and `name`. `lookup` reads what the event lacks (an
    /// order's hostname); formatting is the customer's.
    func values(_ format: NoticeFormat, _ templates: NotificationTemplates, lookup: PGConnection) throws -> [String: Any]
}

extension CustomerNotice {
    /// `VPS_EXPIRING_SOON` → `vps-expiring-soon`.
    static var templateName: String { kind.lowercased().replacingOccurrences(of: "_", with: "-") }
}

/// What every notifying handler does with its event, in its atomic phase: records the
/// notification once (its id is the event's), renders it in the customer's language and time
/// zone, and queues one delivery per channel the customer has, each sent by its own queue.
public struct Notifier: Sendable {
    let templates: NotificationTemplates
    let brand: String
    /// Events that happened this long before the notifier first ran (a backlog from before it
    /// was deployed) are recorded with their deliveries skipped, not sent.
    let maxAge: Duration

    public init(templates: NotificationTemplates, brand: String, maxAge: Duration) {
        self.templates = templates
        self.brand = brand
        self.maxAge = maxAge
    }

    func record<Event: CustomerNotice>(_ message: Envelope<Event>, context: inout HandlerContext) throws -> HandlerOutcome {
        let connection = context.connection
        let contact = try Customers.contact(message.data.customerId, on: connection)
        let locale = contact.flatMap { NoticeFormat.Locale(rawValue: $0.locale) } ?? .id
        let format = NoticeFormat(locale: locale, timeZone: contact?.timeZone)
        var values = try message.data.values(format, templates, lookup: connection)
        values["brand"] = brand
        // Absent when there is none: an empty string would open the templates' `{{#name}}` section.
        let name = NoticeFormat.displayName(contact?.displayName)
        if !name.isEmpty { values["name"] = name }
        let rendered = try templates.render(kind: Event.templateName, locale: locale, values: values)

        // Events that happened long before the notifier first ran (a backlog from before it was
        // deployed) are recorded but not sent; anything later is sent, however late.
        let firstRun: Date =
            try connection.query(
                """
                WITH recorded AS (INSERT INTO notifier_first_run (id, at) VALUES (1, $1) ON CONFLICT (id) DO NOTHING RETURNING at)
                SELECT at FROM recorded UNION ALL SELECT at FROM notifier_first_run LIMIT 1
                """, context.time.runAt
            ).first?.decode("at") ?? context.time.runAt
        let age = firstRun.timeIntervalSince(message.occurredAt)
        let stale = age > Double(maxAge.components.seconds)
        var channels: [(DeliveryChannel, String)] = []
        if let email = contact?.email, !email.isEmpty { channels.append((.email, email)) }
        if let chat = contact?.telegramChatId, !chat.isEmpty { channels.append((.telegram, chat)) }
        let skipReason: String? =
            channels.isEmpty
            ? "no email address or Telegram chat on record"
            : stale
                ? "the event happened \(Int(age / 3600)) h before the notifier first ran (limit \(maxAge.components.seconds / 3600) h): not sent late"
                : nil

        let data = String(decoding: try MessageCoding.encoder().encode(message.data), as: UTF8.self)
        let inserted = try connection.query(
            """
            INSERT INTO notifications (id, customer_id, kind, event_type, occurred_at, locale, subject, data, skip_reason)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9) ON CONFLICT (id) DO NOTHING RETURNING id
            """, message.id, message.data.customerId, Event.kind, Event.messageType, message.occurredAt, locale.rawValue,
            rendered.subject, data, skipReason)
        // A second copy of the event (one forwarded from each old channel queue) changes nothing.
        guard !inserted.isEmpty else { return .done }
        for (channel, recipient) in channels {
            let delivery = Deliveries.id(notification: message.id, channel: channel)
            try connection.execute(
                """
                INSERT INTO notification_deliveries (id, notification_id, channel, recipient, status, subject, body_text, body_html, last_error)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                """, delivery, message.id, channel.rawValue, recipient,
                stale ? DeliveryStatus.skipped.rawValue : DeliveryStatus.queued.rawValue,
                rendered.subject, channel == .email ? rendered.text : rendered.telegram, channel == .email ? rendered.html : "",
                stale ? skipReason : nil)
            guard !stale else { continue }
            switch channel {
            case .email:
                try context.send(SendEmail(deliveryId: delivery, customerId: message.data.customerId), id: SendEmail.id(delivery))
            case .telegram:
                try context.send(SendTelegram(deliveryId: delivery, customerId: message.data.customerId), id: SendTelegram.id(delivery))
            }
        }
        return .done
    }
}
