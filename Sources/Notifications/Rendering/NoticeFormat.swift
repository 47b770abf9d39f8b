import Foundation

/// How values read in one customer's language and time zone: amounts as `Rp 150.000` (dot
/// grouping in both languages), times as `26 Nov 2026 14:30 WIB`.
public struct NoticeFormat: Sendable {
    public enum Locale: String, Sendable, CaseIterable {
        case id, en
    }

    public let locale: Locale
    public let timeZone: TimeZone
    /// The time zone's short name: WIB, WITA, WIT for Indonesia's zones, else the UTC offset.
    let zoneLabel: String

    public static let defaultTimeZone = "Asia/Jakarta"

    public init(locale: Locale, timeZone identifier: String?) {
        self.locale = locale
        let zone = identifier.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: Self.defaultTimeZone)!
        timeZone = zone
        switch zone.identifier {
        case "Asia/Jakarta", "Asia/Pontianak": zoneLabel = "WIB"
        case "Asia/Makassar": zoneLabel = "WITA"
        case "Asia/Jayapura": zoneLabel = "WIT"
        default:
            let seconds = zone.secondsFromGMT()
            let sign = seconds < 0 ? "-" : "+"
            zoneLabel = seconds == 0 ? "UTC" : String(format: "UTC%@%02d:%02d", sign, abs(seconds) / 3600, abs(seconds) % 3600 / 60)
        }
    }

    /// `Rp 150.000`; `-Rp 5.000` below zero.
    public func rupiah(_ amount: Int64) -> String {
        let digits = String(amount.magnitude)
        var grouped = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { grouped.append(".") }
            grouped.append(digit)
        }
        return (amount < 0 ? "-" : "") + "Rp " + grouped
    }

    private static let months: [Locale: [String]] = [
        .id: ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"],
        .en: ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    ]

    /// `26 Nov 2026 14:30 WIB` (Indonesian month names in `id`), in the customer's time zone.
    public func time(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        let month = Self.months[locale]![(parts.month ?? 1) - 1]
        return String(
            format: "%d %@ %d %02d:%02d %@", parts.day ?? 1, month, parts.year ?? 1970, parts.hour ?? 0, parts.minute ?? 0, zoneLabel)
    }

    /// A billing period's name: `bulanan` / `monthly`.
    public func period(_ raw: String) -> String {
        let names: [String: (id: String, en: String)] = [
            "DAILY": ("harian", "daily"), "MONTHLY": ("bulanan", "monthly"), "YEARLY": ("tahunan", "yearly"),
        ]
        guard let name = names[raw.uppercased()] else { return raw.lowercased() }
        return locale == .id ? name.id : name.en
    }

    /// A display name fit for a greeting: control characters dropped, trimmed, at most 64
    /// characters (HTML escaping is the template's: every value is escaped when rendered).
    public static func displayName(_ name: String?) -> String {
        guard let name else { return "" }
        let cleaned = String(String.UnicodeScalarView(name.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) }))
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return cleaned.count > 64 ? String(cleaned.prefix(63)) + "…" : cleaned
    }
}
