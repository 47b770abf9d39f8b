import ArmadaTestSupport
import Foundation
import OrdersContracts
import Postgres
import Testing
import WalletContracts

@testable import Notifications

/// The shipped templates (Templates/notifications) rendered for every event in both languages.
@Suite("Notification rendering")
struct RenderingTests {
    static let directory = TestEnvironment.repositoryRoot.appendingPathComponent("Templates/notifications").path
    static let expiresAt = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18T11:06:40Z

    func templates() async throws -> NotificationTemplates {
        try NotificationTemplates(directory: Self.directory, kinds: NotifierWorker.kinds)
    }

    /// Renders `event` as the notifier would, for a customer named `name`.
    static let pool = TestDatabase.pool(size: 1, name: "rendering")

    func render<Event: CustomerNotice>(
        _ event: Event, _ locale: NoticeFormat.Locale, name: String? = "Budi", timeZone: String? = nil,
        templates: NotificationTemplates
    ) async throws -> RenderedNotice {
        let format = NoticeFormat(locale: locale, timeZone: timeZone)
        let displayName = NoticeFormat.displayName(name)
        return try await Self.pool.withConnection { connection in
            var values = try event.values(format, templates, lookup: connection)
            values["brand"] = "Armada"
            if !displayName.isEmpty { values["name"] = displayName }
            return try templates.render(kind: Event.templateName, locale: locale, values: values)
        }
    }

    static let order = UUID()
    static let events: [(any CustomerNotice, [String])] = [
        (
            DepositPaid(customerId: "c", depositId: UUID(), reference: "T0001", amount: 150_000, bonus: 15_000, balanceAfter: 1_165_000),
            ["Rp 150.000", "Rp 15.000", "Rp 1.165.000"]
        ),
        (DepositExpired(customerId: "c", depositId: UUID(), reference: "T0002", amount: 50_000, status: .expired), ["Rp 50.000", "T0002"]),
        (WelcomeBonusCredited(customerId: "c", promoCode: "WELCOME", amount: 25_000, balanceAfter: 25_000), ["Rp 25.000"]),
        (
            OrderCreated(customerId: "c", orderId: order, planName: "Basic", billingPeriod: .monthly, price: 150_000, hostname: "web-1"),
            ["web-1", "Basic", "Rp 150.000"]
        ),
        (
            VPSActive(customerId: "c", orderId: order, hostname: "web-1", publicIpv4: "203.0.113.7", expiresAt: expiresAt),
            ["web-1", "203.0.113.7", "18 ", "18:06 WIB"]
        ),
        (
            ProvisioningFailed(customerId: "c", orderId: order, code: "PROVISIONING_FAILED", reason: "errored", refunded: 150_000),
            ["Rp 150.000"]
        ),
        (
            VPSExpiringSoon(
                customerId: "c", orderId: order, hostname: "web-1", thresholdHours: 72, hoursLeft: 70, expiresAt: expiresAt,
                autoRenew: true,
                price: 150_000), ["web-1", "70", "18:06 WIB"]
        ),
        (VPSRenewed(customerId: "c", orderId: order, hostname: "web-1", amount: 150_000, expiresAt: expiresAt), ["web-1", "Rp 150.000"]),
        (
            VPSRenewalFailed(customerId: "c", orderId: order, hostname: "web-1", required: 150_000, balance: 40_000, expiresAt: expiresAt),
            ["Rp 150.000", "Rp 40.000", "Rp 110.000"]
        ),
        (
            VPSSuspended(customerId: "c", orderId: order, hostname: "web-1", graceHours: 24, reason: "INSUFFICIENT_BALANCE"),
            ["web-1", "24"]
        ),
        (VPSTerminated(customerId: "c", orderId: order, hostname: "web-1", reason: "EXPIRED_NO_RENEWAL"), ["web-1"]),
    ]

    func rendered(_ event: any CustomerNotice, _ locale: NoticeFormat.Locale, name: String?, templates: NotificationTemplates)
        async throws -> RenderedNotice
    {
        func open<Event: CustomerNotice>(_ event: Event) async throws -> RenderedNotice {
            try await render(event, locale, name: name, templates: templates)
        }
        return try await open(event)
    }

    @Test("every event renders in Indonesian and English with its values, in every part")
    func everyEventBothLanguages() async throws {
        let templates = try await templates()
        for (event, expected) in Self.events {
            let indonesian = try await rendered(event, .id, name: "Budi", templates: templates)
            let english = try await rendered(event, .en, name: "Budi", templates: templates)
            #expect(indonesian.subject != english.subject, "\(type(of: event)): the languages differ")
            for notice in [indonesian, english] {
                #expect(notice.subject.hasPrefix("[Armada]"), "\(notice.subject)")
                #expect(!notice.subject.contains("\n"))
                for value in expected {
                    #expect(notice.text.contains(value), "\(type(of: event)) text lacks \(value): \(notice.text)")
                    #expect(notice.telegram.contains(value), "\(type(of: event)) Telegram lacks \(value)")
                    #expect(notice.html.contains(value), "\(type(of: event)) HTML lacks \(value)")
                }
                #expect(notice.text.contains("Budi"))
                #expect(notice.html.contains("<html"))
                #expect(!notice.text.contains("<b>") && !notice.text.contains("&amp;"), "the text part has no markup")
                #expect(!notice.text.contains("{{") && !notice.html.contains("{{"), "no unrendered tag")
            }
            #expect(indonesian.text.contains("Halo"), "\(type(of: event)): Indonesian greets in Indonesian")
            #expect(english.text.contains("Hello"))
        }
    }

    @Test("without a display name the greeting has no name and no dangling comma")
    func greetingWithoutName() async throws {
        let templates = try await templates()
        let notice = try await rendered(Self.events[0].0, .id, name: nil, templates: templates)
        #expect(notice.text.contains("Halo,"))
        #expect(!notice.text.contains("Halo ,"))
    }

    @Test("urgent wording at 8 hours or less, not before")
    func urgentWording() async throws {
        let templates = try await templates()
        func expiring(_ hours: Int) -> VPSExpiringSoon {
            VPSExpiringSoon(
                customerId: "c", orderId: Self.order, hostname: "web-1", thresholdHours: hours, hoursLeft: hours, expiresAt: Self.expiresAt,
                autoRenew: false, price: 150_000)
        }
        for locale in NoticeFormat.Locale.allCases {
            let calm = try await render(expiring(24), locale, templates: templates)
            let urgent = try await render(expiring(8), locale, templates: templates)
            #expect(calm.subject != urgent.subject, "\(locale): the urgent subject differs")
            let word = locale == .id ? "SEGERA" : "URGENT"
            #expect(urgent.subject.uppercased().contains(word), "\(urgent.subject)")
            #expect(!calm.subject.uppercased().contains(word))
            #expect(urgent.telegram.contains("<b>"), "an urgent reminder has a bold warning")
        }
    }

    @Test("hostile names are escaped for Telegram's HTML and the email's HTML, and read as written in the text part")
    func hostileNames() async throws {
        let templates = try await templates()
        let hostile = [
            "<script>alert(1)</script>", "Tom & Jerry", "a\"b'c", "<b>bold</b> *md* _x_ [l](http://e.x) `c`", "&amp; &lt;",
            String(repeating: "Ω<", count: 500),
            // Template and SQL injection: a name is a value, never a template or a statement.
            "{{customerName}}{{{html}}}{{#items}}x{{/items}}{{> partial}}", "'; DROP TABLE wallets; --", "${7*7} #{7*7} <%= 7*7 %>",
        ]
        for name in hostile {
            let event = VPSActive(
                customerId: "c", orderId: Self.order, hostname: "web-1", publicIpv4: "203.0.113.7", expiresAt: Self.expiresAt)
            for locale in NoticeFormat.Locale.allCases {
                let notice = try await render(event, locale, name: name, templates: templates)
                let shown = NoticeFormat.displayName(name)
                #expect(!notice.telegram.contains("<script") && !notice.html.contains("<script"))
                #expect(!notice.telegram.contains(shown) || !shown.contains("<"), "a raw '<' from the name never reaches HTML")
                #expect(notice.telegram.contains(htmlEscaped(shown)), "the name is in the message, escaped")
                #expect(notice.html.contains(htmlEscaped(shown)))
                #expect(notice.text.contains(shown), "the text part reads as written")
                #expect(TelegramHTML.isValid(notice.telegram), "Telegram can parse: \(notice.telegram.prefix(200))")
                #expect(notice.telegram.count <= 4096)
            }
        }
        // A very long name is cut for the greeting.
        #expect(NoticeFormat.displayName(String(repeating: "x", count: 500)).count == 64)
        #expect(NoticeFormat.displayName("  Ani\u{0}\n\u{7}  ") == "Ani")
    }

    @Test("amounts are grouped with dots in both languages; times are in the customer's zone")
    func formatting() {
        let id = NoticeFormat(locale: .id, timeZone: nil)
        #expect(id.rupiah(150_000) == "Rp 150.000")
        #expect(id.rupiah(0) == "Rp 0")
        #expect(id.rupiah(999) == "Rp 999")
        #expect(id.rupiah(1_000) == "Rp 1.000")
        #expect(id.rupiah(100_000_000) == "Rp 100.000.000")
        #expect(NoticeFormat(locale: .en, timeZone: nil).rupiah(1_234_567) == "Rp 1.234.567")
        let at = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18T11:06:40Z
        #expect(id.time(at) == "18 Nov 2026 18:06 WIB")
        #expect(NoticeFormat(locale: .id, timeZone: "Asia/Makassar").time(at) == "18 Nov 2026 19:06 WITA")
        #expect(NoticeFormat(locale: .en, timeZone: "Asia/Jayapura").time(at) == "18 Nov 2026 20:06 WIT")
        #expect(NoticeFormat(locale: .en, timeZone: "Europe/Berlin").time(at) == "18 Nov 2026 12:06 UTC+01:00")
        #expect(NoticeFormat(locale: .id, timeZone: nil).time(Date(timeIntervalSince1970: 1_778_000_000)).contains(" Mei "))
        #expect(id.period("MONTHLY") == "bulanan" && NoticeFormat(locale: .en, timeZone: nil).period("YEARLY") == "yearly")
    }

    @Test("a template folder missing a kind's file refuses to load, naming the file")
    func missingTemplate() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.unique("templates"))
        for locale in ["id", "en"] {
            let dir = folder.appendingPathComponent(locale)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try "{{{content}}}".write(to: dir.appendingPathComponent("layout.html.mustache"), atomically: true, encoding: .utf8)
            try "{}".write(to: dir.appendingPathComponent("reasons.json"), atomically: true, encoding: .utf8)
        }
        #expect(throws: TemplateError.self) {
            _ = try NotificationTemplates(directory: folder.path, kinds: ["deposit-paid"])
        }
        try? FileManager.default.removeItem(at: folder)
    }

    func htmlEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;"
        )
        .replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&#39;")
    }
}

/// Telegram's HTML parse mode as PROVIDERS.md describes it: only its tags, balanced; `<` and `&`
/// only as a tag or an entity.
enum TelegramHTML {
    static let tags: Set<String> = [
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "a", "tg-spoiler", "blockquote", "span",
    ]

    static func isValid(_ text: String) -> Bool {
        var open: [String] = []
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character == "<" {
                guard let close = text[index...].firstIndex(of: ">") else { return false }
                var tag = String(text[text.index(after: index)..<close])
                let closing = tag.hasPrefix("/")
                if closing { tag.removeFirst() }
                let name = String(tag.split(separator: " ").first ?? "")
                guard tags.contains(name) else { return false }
                if closing {
                    guard open.last == name else { return false }
                    open.removeLast()
                } else {
                    open.append(name)
                }
                index = text.index(after: close)
            } else if character == "&" {
                guard let semicolon = text[index...].firstIndex(of: ";") else { return false }
                let entity = String(text[index...semicolon])
                guard ["&lt;", "&gt;", "&amp;", "&quot;"].contains(entity) || entity.wholeMatch(of: /&#[0-9]+;|&#x[0-9a-fA-F]+;/) != nil
                else { return false }
                index = text.index(after: semicolon)
            } else {
                index = text.index(after: index)
            }
        }
        return open.isEmpty
    }
}
