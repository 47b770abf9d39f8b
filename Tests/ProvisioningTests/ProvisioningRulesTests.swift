import ArmadaTestSupport
import Foundation
import Messaging
import OrdersContracts
import Postgres
import Testing

@testable import Provisioning

@Suite("Catalog rules: periods on offer, prices, monthly equivalents, period ends")
struct CatalogRulesTests {
    func plan(daily: Int64? = 2_000, monthly: Int64? = 50_000, yearly: Int64? = 500_000, allowDaily: Bool = true) -> Plan {
        Plan(
            id: UUID(), name: "basic", displayName: "Basic", vcpu: 1, memoryMb: 1024, diskGb: 25, bandwidthTb: 1, sizeSlug: "s-1vcpu-1gb",
            priceDaily: daily, priceMonthly: monthly, priceYearly: yearly, allowDaily: allowDaily)
    }

    @Test("monthly equivalents: daily x 30, monthly, round(yearly / 12) (DOMAIN.md's example)")
    func monthlyEquivalent() {
        #expect(plan().offers.map(\.monthlyEquivalent) == [60_000, 50_000, 41_667])
        #expect(Plan.monthlyEquivalent(500_005, .yearly) == 41_667)
        #expect(Plan.monthlyEquivalent(500_006, .yearly) == 41_667)
        #expect(Plan.monthlyEquivalent(500_010, .yearly) == 41_668)
    }

    @Test("a period is offered only when its flag is on and its price set; else BILLING_PERIOD_NOT_ALLOWED or PRICE_NOT_SET")
    func offered() throws {
        #expect(plan(allowDaily: false).price(for: .daily).failureCode == .billingPeriodNotAllowed)
        #expect(plan(daily: nil).price(for: .daily).failureCode == .priceNotSet)
        #expect(plan(yearly: nil).price(for: .yearly).failureCode == .priceNotSet)
        #expect(try plan().price(for: .monthly).get() == 50_000)
        #expect(plan(daily: nil, yearly: nil).offers.map(\.billingPeriod) == [.monthly])
    }

    @Test("a period ends a day, a calendar month or a calendar year later (UTC)")
    func periodEnds() throws {
        let formatter = ISO8601DateFormatter()
        let start = try #require(formatter.date(from: "2026-01-31T10:00:00Z"))
        #expect(formatter.string(from: BillingPeriod.daily.end(from: start)) == "2026-02-01T10:00:00Z")
        #expect(formatter.string(from: BillingPeriod.monthly.end(from: start)) == "2026-02-28T10:00:00Z")
        #expect(formatter.string(from: BillingPeriod.yearly.end(from: start)) == "2027-01-31T10:00:00Z")
        let leap = try #require(formatter.date(from: "2028-02-29T00:00:00Z"))
        #expect(formatter.string(from: BillingPeriod.yearly.end(from: leap)) == "2029-02-28T00:00:00Z")
    }

    @Test("an order's default hostname is vps- and the first 8 hex digits of its id")
    func defaultHostname() throws {
        let id = try #require(UUID(uuidString: "5B1D6C1E-8F0A-5A49-9C3E-2F6D7A8B9C01"))
        #expect(PlaceOrder.defaultHostname(for: id) == "vps-5b1d6c1e")
    }
}

extension Result where Failure == Rejection {
    var failureCode: ErrorCode? {
        if case .failure(let rejection) = self { return rejection.code }
        return nil
    }
}

@Suite("DigitalOcean tokens sealed with AES-256-GCM")
struct TokenSealerTests {
    let key = String(repeating: "0f", count: 32)

    @Test("a sealed token opens again; each seal has its own random nonce")
    func roundTrip() throws {
        let sealer = try TokenSealer(hexKey: key)
        let first = try sealer.seal("dop_v1_fake_token")
        let second = try sealer.seal("dop_v1_fake_token")
        #expect(try sealer.open(first) == "dop_v1_fake_token")
        #expect(first.prefix(12) != second.prefix(12), "nonces differ")
        #expect(first != second)
        #expect(!String(decoding: first, as: UTF8.self).contains("dop_v1"))
    }

    @Test("a tampered ciphertext or another key does not open")
    func tampered() throws {
        let sealer = try TokenSealer(hexKey: key)
        var sealed = try sealer.seal("dop_v1_fake_token")
        sealed[14] ^= 0x01
        #expect(throws: TokenSealer.OpenError.self) { try sealer.open(sealed) }
        let other = try TokenSealer(hexKey: String(repeating: "a1", count: 32))
        #expect(throws: TokenSealer.OpenError.self) { try other.open(try sealer.seal("x")) }
    }

    @Test("rotation: tokens sealed with a previous key open and are told apart; without it they do not")
    func rotation() throws {
        let old = try TokenSealer(hexKey: key)
        let newKey = String(repeating: "a1", count: 32)
        let sealedOld = try old.seal("dop_v1_old")
        let rotating = try TokenSealer(
            EnvironmentReader([
                "ARMADA_ENCRYPTION_KEY": newKey, "ARMADA_ENCRYPTION_KEY_PREVIOUS": "\(String(repeating: "77", count: 32)), \(key)",
            ]))
        #expect(try rotating.openTelling(sealedOld) == ("dop_v1_old", false), "opens with a previous key, which needs resealing")
        let sealedNew = try rotating.seal("dop_v1_new")
        #expect(try rotating.openTelling(sealedNew) == ("dop_v1_new", true), "a new seal uses the current key")
        #expect(throws: TokenSealer.OpenError.self) { try old.open(sealedNew) }
        let rotated = try TokenSealer(hexKey: newKey)
        #expect(throws: TokenSealer.OpenError.self) { try rotated.open(sealedOld) }
        #expect(throws: SettingsError.self) {
            try TokenSealer(EnvironmentReader(["ARMADA_ENCRYPTION_KEY": newKey, "ARMADA_ENCRYPTION_KEY_PREVIOUS": "abc"]))
        }
    }

    @Test("a key that is not 64 hex digits stops the provisioner at start")
    func wrongKey() {
        for bad in ["", "abc", String(repeating: "0f", count: 31), String(repeating: "zz", count: 32), String(repeating: "0f", count: 33)] {
            #expect(throws: SettingsError.self) { try ProvisionerSettings(EnvironmentReader(["ARMADA_ENCRYPTION_KEY": bad])) }
        }
        #expect(throws: SettingsError.self) { try ProvisionerSettings(EnvironmentReader([:])) }
        #expect((try? ProvisionerSettings(EnvironmentReader(["ARMADA_ENCRYPTION_KEY": key]))) != nil)
    }
}

@Suite("DigitalOcean accounts: which one a droplet goes to, and the shared per-minute pace")
struct AccountRulesTests {
    func account(
        _ name: String, health: AccountHealth = .healthy, primary: Bool = false, count: Int = 0, limit: Int = 25, active: Bool = true
    )
        -> DOAccount
    {
        DOAccount(
            id: UUID(), name: name, sealedToken: [], dropletLimit: limit, activeDroplets: count, health: health, isPrimary: primary,
            active: active)
    }

    @Test("HEALTHY or UNKNOWN first (primary, then fewest droplets), then DEGRADED; full, inactive and UNHEALTHY ones skipped")
    func ranking() {
        let accounts = [
            account("degraded", health: .degraded), account("busy", count: 20), account("idle", health: .unknown, count: 2),
            account("primary", primary: true, count: 24), account("full", count: 25), account("off", active: false),
            account("sick", health: .unhealthy),
        ]
        #expect(DOAccounts.rank(accounts).map(\.name) == ["primary", "idle", "busy", "degraded"])
    }

    @Test("an UNHEALTHY account is still tried when no other active account has room")
    func onlyUnhealthy() {
        #expect(DOAccounts.rank([account("sick", health: .unhealthy), account("full", count: 25)]).map(\.name) == ["sick"])
        #expect(DOAccounts.rank([account("full", count: 25)]).isEmpty)
    }

    @Test("every process takes calls from one per-minute budget per token; past it, the wait ends when the oldest call leaves the window")
    func pacing() async throws {
        let pool = TestDatabase.pool(size: 2, name: "pacing")
        let id = UUID()
        try await pool.withConnection {
            // Inactive: never a candidate for the end-to-end suites sharing this database.
            _ = try DOAccounts.insert(
                id: id, name: "pace-\(id.uuidString.prefix(8))", sealedToken: [1], fingerprint: id.uuidString, dropletLimit: 1,
                isPrimary: false,
                on: $0)
            try $0.execute("UPDATE do_accounts SET active = false WHERE id = $1", id)
        }
        var allowed = 0
        var wait: Date?
        for _ in 0..<12 {
            if let until = try await pool.withConnection({ try DOAccounts.takeCall(id, perMinute: 10, on: $0) }) {
                wait = until
            } else {
                allowed += 1
            }
        }
        #expect(allowed == 10)
        let until = try #require(wait)
        #expect(until > Date().addingTimeInterval(50) && until < Date().addingTimeInterval(62))

        // A 429's pause holds every call until it passes.
        let other = UUID()
        try await pool.withConnection {
            _ = try DOAccounts.insert(
                id: other, name: "pause-\(other.uuidString.prefix(8))", sealedToken: [1], fingerprint: other.uuidString, dropletLimit: 1,
                isPrimary: false, on: $0)
            try $0.execute("UPDATE do_accounts SET active = false WHERE id = $1", other)
            try DOAccounts.pause(other, until: Date().addingTimeInterval(120), reading: nil, on: $0)
        }
        let paused = try await pool.withConnection { try DOAccounts.takeCall(other, perMinute: 10, on: $0) }
        #expect(paused.map { $0 > Date().addingTimeInterval(100) } == true)
    }

    @Test("health: three failures in a row make an account UNHEALTHY; a success with under 100 left is DEGRADED, over 500 HEALTHY")
    func health() async throws {
        let pool = TestDatabase.pool(size: 1, name: "health")
        let id = UUID()
        func health() async throws -> String {
            try await pool.withConnection { try $0.query("SELECT health FROM do_accounts WHERE id = $1", id).first!.decode("health") }
        }
        try await pool.withConnection {
            _ = try DOAccounts.insert(
                id: id, name: "health-\(id.uuidString.prefix(8))", sealedToken: [1], fingerprint: id.uuidString, dropletLimit: 1,
                isPrimary: false, on: $0)
            try $0.execute("UPDATE do_accounts SET active = false WHERE id = $1", id)
        }
        for _ in 0..<2 { try await pool.withConnection { try DOAccounts.recordFailure(id, error: "HTTP 500", on: $0) } }
        #expect(try await health() == "HEALTHY")
        try await pool.withConnection { try DOAccounts.recordFailure(id, error: "HTTP 500", on: $0) }
        #expect(try await health() == "UNHEALTHY")
        let reset = Date().addingTimeInterval(3000)
        try await pool.withConnection {
            try DOAccounts.recordSuccess(id, reading: .init(limit: 5000, remaining: 99, reset: reset), on: $0)
        }
        #expect(try await health() == "DEGRADED")
        try await pool.withConnection {
            try DOAccounts.recordSuccess(id, reading: .init(limit: 5000, remaining: 300, reset: reset), on: $0)
        }
        #expect(try await health() == "DEGRADED", "between 100 and 500 it stays as it is")
        try await pool.withConnection {
            try DOAccounts.recordSuccess(id, reading: .init(limit: 5000, remaining: 501, reset: reset), on: $0)
        }
        #expect(try await health() == "HEALTHY")
    }
}
