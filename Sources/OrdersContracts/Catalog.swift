import Foundation
import Messaging
import Postgres

/// How long one paid period lasts.
public enum BillingPeriod: String, Sendable, Codable, CaseIterable {
    case daily = "DAILY", monthly = "MONTHLY", yearly = "YEARLY"

    public init(stored: String) throws {
        guard let period = BillingPeriod(rawValue: stored) else {
            throw PostgresError(kind: .decoding, message: "unknown billing period '\(stored)'")
        }
        self = period
    }

    /// The end of one period that starts at `start`: a day, a calendar month or a calendar year
    /// (in UTC; 31 January + 1 month is 28 or 29 February).
    public func end(from start: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let component: Calendar.Component = self == .daily ? .day : self == .monthly ? .month : .year
        return calendar.date(byAdding: component, value: 1, to: start)!
    }
}

/// A plan as stored.
public struct Plan: Sendable, Equatable {
    public var id: UUID
    public var name: String
    public var displayName: String
    public var vcpu: Int
    public var memoryMb: Int
    public var diskGb: Int
    public var bandwidthTb: Double
    public var sizeSlug: String
    public var active: Bool
    public var sortOrder: Int
    public var priceDaily: Int64?
    public var priceMonthly: Int64?
    public var priceYearly: Int64?
    public var allowDaily: Bool
    public var allowMonthly: Bool
    public var allowYearly: Bool

    public init(
        id: UUID, name: String, displayName: String, vcpu: Int, memoryMb: Int, diskGb: Int, bandwidthTb: Double, sizeSlug: String,
        active: Bool = true, sortOrder: Int = 0, priceDaily: Int64? = nil, priceMonthly: Int64? = nil, priceYearly: Int64? = nil,
        allowDaily: Bool = false, allowMonthly: Bool = true, allowYearly: Bool = true
    ) {
        self.id = id
        self.name = name
        self.displayName = displayName
        self.vcpu = vcpu
        self.memoryMb = memoryMb
        self.diskGb = diskGb
        self.bandwidthTb = bandwidthTb
        self.sizeSlug = sizeSlug
        self.active = active
        self.sortOrder = sortOrder
        self.priceDaily = priceDaily
        self.priceMonthly = priceMonthly
        self.priceYearly = priceYearly
        self.allowDaily = allowDaily
        self.allowMonthly = allowMonthly
        self.allowYearly = allowYearly
    }

    /// The price of one period, or why the period is not offered: BILLING_PERIOD_NOT_ALLOWED
    /// when its flag is off, PRICE_NOT_SET when the flag is on but there is no price.
    public func price(for period: BillingPeriod) -> Result<Int64, Rejection> {
        let (allowed, price): (Bool, Int64?) =
            switch period {
            case .daily: (allowDaily, priceDaily)
            case .monthly: (allowMonthly, priceMonthly)
            case .yearly: (allowYearly, priceYearly)
            }
        guard allowed else {
            return .failure(Rejection(.billingPeriodNotAllowed, "plan \(name) is not sold \(period.rawValue.lowercased())"))
        }
        guard let price else { return .failure(Rejection(.priceNotSet, "plan \(name) has no \(period.rawValue.lowercased()) price")) }
        return .success(price)
    }

    /// What one month costs on this period, for display: daily × 30, monthly, round(yearly / 12).
    public static func monthlyEquivalent(_ price: Int64, _ period: BillingPeriod) -> Int64 {
        switch period {
        case .daily: return price * 30
        case .monthly: return price
        case .yearly: return (price + 6) / 12
        }
    }

    /// The periods a customer can order, with their prices.
    public var offers: [PlanOffer] {
        BillingPeriod.allCases.compactMap { period in
            guard case .success(let price) = self.price(for: period) else { return nil }
            return PlanOffer(billingPeriod: period, price: price, monthlyEquivalent: Self.monthlyEquivalent(price, period))
        }
    }

    /// Everything, for an admin: flags and prices not on offer too.
    public var adminView: AdminPlanView {
        AdminPlanView(
            id: id.uuidString.lowercased(), name: name, displayName: displayName, vcpu: vcpu, memoryMb: memoryMb, diskGb: diskGb,
            bandwidthTb: bandwidthTb, sizeSlug: sizeSlug, active: active, sortOrder: sortOrder, priceDaily: priceDaily,
            priceMonthly: priceMonthly, priceYearly: priceYearly, allowDaily: allowDaily, allowMonthly: allowMonthly,
            allowYearly: allowYearly, periods: offers)
    }

    public var view: PlanView {
        PlanView(
            id: id.uuidString.lowercased(), name: name, displayName: displayName, vcpu: vcpu, memoryMb: memoryMb, diskGb: diskGb,
            bandwidthTb: bandwidthTb, periods: offers)
    }
}

public struct PlanOffer: Codable, Sendable, Equatable {
    public var billingPeriod: BillingPeriod
    public var price: Int64
    public var monthlyEquivalent: Int64
}

/// A plan as customers see it: only the periods on offer.
public struct PlanView: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var displayName: String
    public var vcpu: Int
    public var memoryMb: Int
    public var diskGb: Int
    public var bandwidthTb: Double
    public var periods: [PlanOffer]
}

/// A plan as an admin sees it.
public struct AdminPlanView: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var displayName: String
    public var vcpu: Int
    public var memoryMb: Int
    public var diskGb: Int
    public var bandwidthTb: Double
    public var sizeSlug: String
    public var active: Bool
    public var sortOrder: Int
    public var priceDaily: Int64?
    public var priceMonthly: Int64?
    public var priceYearly: Int64?
    public var allowDaily: Bool
    public var allowMonthly: Bool
    public var allowYearly: Bool
    /// What customers are offered from it.
    public var periods: [PlanOffer]
}

/// An operating system image or a region: a provider slug with a display name.
public struct CatalogEntry: Codable, Sendable, Equatable {
    public var slug: String
    public var displayName: String
    public var active: Bool
    public var sortOrder: Int

    public init(slug: String, displayName: String, active: Bool = true, sortOrder: Int = 0) {
        self.slug = slug
        self.displayName = displayName
        self.active = active
        self.sortOrder = sortOrder
    }
}

/// Images or regions: one table each, the same shape.
public enum CatalogKind: String, Sendable, Codable {
    case image, region

    public var table: String { self == .image ? "images" : "regions" }
    public var notFound: ErrorCode { self == .image ? .imageNotFound : .regionNotFound }
}

/// The catalog tables. Reads here; the provisioner's admin writes are in `Provisioning`.
public enum Catalog {
    static let planColumns = """
        id, name, display_name, vcpu, memory_mb, disk_gb, bandwidth_tb, size_slug, active, sort_order, price_daily, price_monthly,
        price_yearly, allow_daily, allow_monthly, allow_yearly
        """

    public static func plan(_ id: UUID, on connection: PGConnection) throws -> Plan? {
        try connection.query("SELECT \(planColumns) FROM plans WHERE id = $1", id).first.map(decodePlan)
    }

    /// Active plans for customers, or every plan for an admin; in sort order.
    public static func plans(includeInactive: Bool, on connection: PGConnection) throws -> [Plan] {
        try connection.query(
            "SELECT \(planColumns) FROM plans WHERE active OR $1 ORDER BY sort_order, name", includeInactive
        ).map(decodePlan)
    }

    public static func entry(_ kind: CatalogKind, _ slug: String, on connection: PGConnection) throws -> CatalogEntry? {
        try connection.query("SELECT slug, display_name, active, sort_order FROM \(kind.table) WHERE slug = $1", slug).first.map(
            decodeEntry)
    }

    public static func entries(_ kind: CatalogKind, includeInactive: Bool, on connection: PGConnection) throws -> [CatalogEntry] {
        try connection.query(
            "SELECT slug, display_name, active, sort_order FROM \(kind.table) WHERE active OR $1 ORDER BY sort_order, slug",
            includeInactive
        ).map(decodeEntry)
    }

    /// The region an order gets when it names none: the first active one.
    public static func defaultRegion(on connection: PGConnection) throws -> String? {
        try connection.query("SELECT slug FROM regions WHERE active ORDER BY sort_order, slug LIMIT 1").first?.decode("slug")
    }

    static func decodePlan(_ row: PostgresRow) throws -> Plan {
        Plan(
            id: try row.decode("id"), name: try row.decode("name"), displayName: try row.decode("display_name"),
            vcpu: try row.decode("vcpu"), memoryMb: try row.decode("memory_mb"), diskGb: try row.decode("disk_gb"),
            bandwidthTb: try row.decode("bandwidth_tb"), sizeSlug: try row.decode("size_slug"), active: try row.decode("active"),
            sortOrder: try row.decode("sort_order"), priceDaily: try row.decode("price_daily"),
            priceMonthly: try row.decode("price_monthly"),
            priceYearly: try row.decode("price_yearly"), allowDaily: try row.decode("allow_daily"),
            allowMonthly: try row.decode("allow_monthly"), allowYearly: try row.decode("allow_yearly"))
    }

    static func decodeEntry(_ row: PostgresRow) throws -> CatalogEntry {
        CatalogEntry(
            slug: try row.decode("slug"), displayName: try row.decode("display_name"), active: try row.decode("active"),
            sortOrder: try row.decode("sort_order"))
    }
}

extension Date {
    /// This time without its fraction of a second: how order times are kept, so a time carried in a
    /// message (ISO 8601, whole seconds) names the same instant as the row it came from.
    public var wholeSeconds: Date { Date(timeIntervalSince1970: timeIntervalSince1970.rounded(.down)) }

    /// The same instant to the second (a row written before times were kept whole may carry a fraction).
    public func sameSecond(as other: Date?) -> Bool {
        guard let other else { return false }
        return abs(timeIntervalSince1970.rounded(.down) - other.timeIntervalSince1970.rounded(.down)) < 1
    }
}
