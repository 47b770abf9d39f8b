import ArmadaTestSupport
import Foundation
import Logging
import Messaging
import Postgres
import Testing
import Tripay
import WalletContracts

@testable import Wallet

func promo(
    _ bonusType: Promo.BonusType = .percentage, value: Int64 = 10, minDeposit: Int64 = 0, maxBonus: Int64? = nil, startsAt: Date? = nil,
    endsAt: Date? = nil, maxTotalUses: Int? = nil, perCustomer: Int = 1, uses: Int = 0, active: Bool = true
) -> Promo {
    Promo(
        id: UUID(), code: "P", name: "p", type: .depositBonus, bonusType: bonusType, bonusValue: value, minDeposit: minDeposit,
        maxBonus: maxBonus,
        startsAt: startsAt, endsAt: endsAt, maxTotalUses: maxTotalUses, maxUsesPerCustomer: perCustomer, uses: uses, active: active)
}

@Suite("Promo rules (pure)")
struct PromoRulesTests {
    let now = Date(timeIntervalSince1970: 1_764_000_000)

    @Test("bonus: percentage is floored and capped, fixed is the value")
    func bonus() {
        #expect(promo(value: 10).bonus(for: 155_555) == 15_555)
        #expect(promo(value: 7).bonus(for: 10_001) == 700, "700.07 floors to 700")
        #expect(promo(value: 10, maxBonus: 10_000).bonus(for: 500_000) == 10_000)
        #expect(promo(.fixedAmount, value: 25_000).bonus(for: 1_000_000) == 25_000)
        #expect(promo(.fixedAmount, value: 25_000, maxBonus: 20_000).bonus(for: 1_000_000) == 20_000)
    }

    @Test("each rejection code, and the order they are checked in")
    func codes() {
        func check(_ p: Promo?, uses: Int = 0, amount: Int64? = 100_000) -> Result<Int64, PromoRejection> {
            PromoRules.evaluate(p, customerUses: uses, amount: amount, now: now)
        }
        #expect(check(nil) == .failure(.notFound))
        #expect(check(promo(active: false)) == .failure(.inactive))
        #expect(check(promo(startsAt: now.addingTimeInterval(60))) == .failure(.expired))
        #expect(check(promo(endsAt: now)) == .failure(.expired))
        #expect(check(promo(maxTotalUses: 5, uses: 5)) == .failure(.exhausted))
        #expect(check(promo(perCustomer: 1), uses: 1) == .failure(.alreadyUsed))
        #expect(check(promo(minDeposit: 200_000)) == .failure(.minimumDepositNotMet))
        #expect(check(promo(value: 10)) == .success(10_000))
        // Order: inactive before expired before exhausted before already used before minimum.
        #expect(check(promo(endsAt: now, maxTotalUses: 1, uses: 1, active: false), uses: 9, amount: 1) == .failure(.inactive))
        #expect(check(promo(endsAt: now, maxTotalUses: 1, uses: 1), uses: 9, amount: 1) == .failure(.expired))
        #expect(check(promo(maxTotalUses: 1, uses: 1), uses: 9, amount: 1) == .failure(.exhausted))
        #expect(check(promo(minDeposit: 200_000), uses: 9, amount: 1) == .failure(.alreadyUsed))
    }

    @Test("only deposit promos apply to a deposit; a welcome bonus counts once per customer whatever maxUsesPerCustomer says")
    func applicability() {
        var welcome = promo(.fixedAmount, value: 10_000, perCustomer: 5)
        welcome.type = .welcomeBonus
        #expect(PromoRules.evaluate(welcome, customerUses: 0, amount: 150_000, now: now) == .failure(.notFound))
        #expect(PromoRules.evaluate(welcome, customerUses: 0, amount: nil, now: now) == .success(10_000))
        #expect(PromoRules.evaluate(welcome, customerUses: 1, amount: nil, now: now) == .failure(.alreadyUsed))
        var event = promo(.fixedAmount, value: 5_000)
        event.type = .specialEvent
        #expect(PromoRules.evaluate(event, customerUses: 0, amount: 150_000, now: now) == .success(5_000))
    }
}

@Suite("Promo redemption against a real PostgreSQL")
struct PromoRedemptionTests {
    @Test("a promo with max total uses 5 redeemed by 50 concurrent paid deposits gives exactly 5 bonuses")
    func concurrentRedemptions() async throws {
        let pool = TestDatabase.pool(size: 12, name: "promo-tests")
        let code = "LIMIT5" + UUID().uuidString.prefix(6).uppercased()
        try await pool.withConnection {
            try $0.execute(
                """
                INSERT INTO promos (id, code, name, promo_type, bonus_type, bonus_value, max_total_uses, max_uses_per_customer)
                VALUES ($1, $2, 'limit', 'DEPOSIT_BONUS', 'FIXED_AMOUNT', 5000, 5, 1)
                """, UUID(), code)
        }
        var harnesses: [CallbackHarness] = []
        for _ in 0..<50 {
            let h = CallbackHarness()
            let (customer, reference) = (h.customer, h.reference)
            _ = try await pool.transaction { connection in
                let deposit = try Deposits.insert(
                    NewDeposit(
                        id: UUID(), customerId: customer, amount: 150_000, fee: 4_250, method: "BRIVA", reference: reference,
                        expiresAt: Date().addingTimeInterval(3600)),
                    on: connection)!
                try connection.execute("UPDATE deposits SET promo_code = $2 WHERE id = $1", deposit.id, code)
            }
            harnesses.append(h)
        }
        let all = harnesses
        try await withThrowingTaskGroup(of: Void.self) { group in
            for h in all { group.addTask { try await h.handle(h.callback(.paid)) } }
            try await group.waitForAll()
        }
        let customers = "{" + all.map(\.customer).joined(separator: ",") + "}"
        let bonuses = try await pool.withConnection { connection in
            try connection.query(
                "SELECT count(*)::int AS n FROM ledger_entries WHERE reference_type = 'DEPOSIT_BONUS' AND customer_id = ANY($1::text[])",
                customers
            ).first!.decode("n", as: Int.self)
        }
        #expect(bonuses == 5)
        let uses = try await pool.withConnection {
            try $0.query("SELECT uses FROM promos WHERE code = $1", code).first!.decode("uses", as: Int.self)
        }
        #expect(uses == 5)
        var credited = 0
        for h in harnesses where try await h.balance() == 150_000 { credited += 1 }
        #expect(credited == 45, "every deposit is credited; 45 without a bonus")
    }
}
