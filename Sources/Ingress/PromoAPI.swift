import Foundation
import Hummingbird
import Messaging
import Postgres
import WalletContracts

/// Promo routes for customers, and the admin routes (promos, wallet adjustments).
struct PromoAPI: Sendable {
    let pool: PostgresPool
    let gateway: CommandGateway

    func addRoutes(to group: RouterGroup<IngressContext>) {
        group.post("/promos/validate") { request, context in try await validate(request, context) }
        group.get("/promos/welcome-bonus") { _, context in try await welcome(context) }
        group.post("/promos/welcome-bonus/claim") { request, context in try await claimWelcome(request, context) }
        group.post("/admin/promos") { request, context in try await createPromo(request, context) }
        group.get("/admin/promos") { _, context in try await listPromos(context) }
        group.patch("/admin/promos/:id") { request, context in try await updatePromo(request, context) }
        group.delete("/admin/promos/:id") { request, context in try await deactivatePromo(request, context) }
        group.post("/admin/wallets/:customerId/adjustments") { request, context in try await adjust(request, context) }
    }

    struct Preview: Encodable {
        var code: String
        var amount: Int64
        var bonus: Int64
        var valid = true
    }

    /// A preview: nothing is redeemed; the deposit's promo is checked again when it is paid.
    func validate(_ request: Request, _ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let body = try await JSONBody.read(request, allowed: ["code", "amount"])
        let code = try body.string("code", maxLength: 64)!
        let amount = try body.int64("amount", in: 1...1_000_000_000_000)
        let result = try await pool.withConnection { connection in
            try Promos.evaluate(code: code, customerId: customer, amount: amount, now: Date(), on: connection).map { $0.1 }
        }
        switch result {
        case .success(let bonus): return try encodedResponse(Preview(code: code.uppercased(), amount: amount, bonus: bonus))
        case .failure(let rejection): throw APIError(rejection.rejection, field: "code")
        }
    }

    struct WelcomeView: Encodable {
        var available: Bool
        var code: String?
        var name: String?
        var amount: Int64?
        var claimed: Bool
    }

    func welcome(_ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let view = try await pool.withConnection { connection -> WelcomeView in
            guard let promo = try Promos.activeWelcome(on: connection) else { return WelcomeView(available: false, claimed: false) }
            let claimed = try Promos.customerUses(promo.id, customer, on: connection) > 0
            return WelcomeView(available: !claimed, code: promo.code, name: promo.name, amount: promo.bonus(for: 0), claimed: claimed)
        }
        return try encodedResponse(view)
    }

    func claimWelcome(_ request: Request, _ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let key = try request.idempotencyKey()
        let commandId = try await gateway.submit(
            { _ in ClaimWelcomeBonus(customerId: customer) }, customerId: customer, idempotencyKey: key,
            requestFingerprint: Array("POST /promos/welcome-bonus/claim".utf8))
        return try encodedResponse(["commandId": commandId.uuidString.lowercased(), "status": "pending"], status: .accepted)
    }

    static let promoFields: Set<String> = [
        "code", "name", "type", "bonusType", "bonusValue", "minDeposit", "maxBonus", "startsAt", "endsAt", "maxTotalUses",
        "maxUsesPerCustomer", "active",
    ]

    func fields(_ body: JSONBody, creating: Bool) throws -> ManagePromo.Fields {
        ManagePromo.Fields(
            code: try body.string("code", required: creating, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$"),
            name: try body.string("name", required: creating, maxLength: 120),
            type: try body.choice("type", required: creating), bonusType: try body.choice("bonusType", required: creating),
            bonusValue: creating
                ? try body.int64("bonusValue", in: 1...1_000_000_000) : try body.optionalInt64("bonusValue", in: 1...1_000_000_000),
            minDeposit: try body.optionalInt64("minDeposit", in: 0...1_000_000_000),
            maxBonus: try body.optionalInt64("maxBonus", in: 1...1_000_000_000),
            startsAt: try body.date("startsAt"), endsAt: try body.date("endsAt"),
            maxTotalUses: try body.optionalInt64("maxTotalUses", in: 1...100_000_000).map(Int.init),
            maxUsesPerCustomer: try body.optionalInt64("maxUsesPerCustomer", in: 1...1_000).map(Int.init), active: try body.bool("active"))
    }

    func createPromo(_ request: Request, _ context: IngressContext) async throws -> Response {
        let admin = try context.requireAdmin().customerId
        let key = try request.idempotencyKey()
        let body = try await JSONBody.read(request, allowed: Self.promoFields)
        let fields = try fields(body, creating: true)
        if fields.bonusType == .percentage, let value = fields.bonusValue, value > 100 {
            throw APIError(.unprocessableContent, .valueOutOfRange, "a percentage bonus is at most 100", field: "bonusValue")
        }
        if fields.type == .welcomeBonus, fields.bonusType != .fixedAmount {
            throw APIError(.unprocessableContent, .validationFailed, "a welcome bonus is a fixed amount", field: "bonusType")
        }
        let commandId = try await gateway.submit(
            { ManagePromo(action: .create, promoId: ManagePromo.promoId(for: $0), fields: fields) }, customerId: admin,
            idempotencyKey: key, requestFingerprint: Array("POST /admin/promos\n".utf8) + body.raw)
        return try encodedResponse(
            [
                "commandId": commandId.uuidString.lowercased(),
                "promoId": ManagePromo.promoId(for: commandId).uuidString.lowercased(), "status": "pending",
            ],
            status: .accepted)
    }

    func listPromos(_ context: IngressContext) async throws -> Response {
        _ = try context.requireAdmin()
        return try encodedResponse(["items": try await pool.withConnection { try Promos.all(on: $0) }])
    }

    func updatePromo(_ request: Request, _ context: IngressContext) async throws -> Response {
        let admin = try context.requireAdmin().customerId
        let key = try request.idempotencyKey()
        let id = try promoId(context)
        let body = try await JSONBody.read(
            request, allowed: Self.promoFields, nullable: Set(ManagePromo.ClearableField.allCases.map(\.rawValue)))
        for immutable in ["code", "type", "bonusType"] where body.object[immutable] != nil {
            throw APIError(.unprocessableContent, .promoFieldImmutable, "'\(immutable)' cannot be changed", field: immutable)
        }
        let fields = try fields(body, creating: false)
        // An explicit null sets a nullable field back to none; absent leaves it as it is.
        let cleared = ManagePromo.ClearableField.allCases.filter { field in
            if case .null = body.object[field.rawValue] { return true }
            return false
        }
        let commandId = try await gateway.submit(
            { _ in ManagePromo(action: .update, promoId: id, fields: fields, cleared: cleared.isEmpty ? nil : cleared) },
            customerId: admin, idempotencyKey: key,
            requestFingerprint: Array("PATCH /admin/promos/\(id)\n".utf8) + body.raw)
        return try encodedResponse(["commandId": commandId.uuidString.lowercased(), "status": "pending"], status: .accepted)
    }

    func deactivatePromo(_ request: Request, _ context: IngressContext) async throws -> Response {
        let admin = try context.requireAdmin().customerId
        let key = try request.idempotencyKey()
        let id = try promoId(context)
        let commandId = try await gateway.submit(
            { _ in ManagePromo(action: .deactivate, promoId: id, fields: .init()) }, customerId: admin, idempotencyKey: key,
            requestFingerprint: Array("DELETE /admin/promos/\(id)".utf8))
        return try encodedResponse(["commandId": commandId.uuidString.lowercased(), "status": "pending"], status: .accepted)
    }

    func adjust(_ request: Request, _ context: IngressContext) async throws -> Response {
        let admin = try context.requireAdmin().customerId
        let key = try request.idempotencyKey()
        // Percent-decoded (an id like `auth0|42` arrives as `auth0%7C42`); then the id a token's
        // `sub` could carry: what a command can store and a wallet key.
        guard let customer = try context.parameters.require("customerId").removingPercentEncoding,
            (1...200).contains(customer.unicodeScalars.count),
            !customer.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw APIError(
                .unprocessableContent, .validationFailed, "the customer id must be 1 to 200 characters without control characters",
                field: "customerId")
        }
        let body = try await JSONBody.read(request, allowed: ["amount", "description"])
        let amount = try body.int64("amount", in: -1_000_000_000...1_000_000_000)
        guard amount != 0 else { throw APIError(.unprocessableContent, .valueOutOfRange, "'amount' must not be 0", field: "amount") }
        let description = try body.string("description", maxLength: 500)!
        let commandId = try await gateway.submit(
            { _ in AdjustWallet(customerId: customer, amount: amount, description: description, adminId: admin) }, customerId: admin,
            idempotencyKey: key, requestFingerprint: Array("POST /admin/wallets/\(customer)/adjustments\n".utf8) + body.raw)
        return try encodedResponse(["commandId": commandId.uuidString.lowercased(), "status": "pending"], status: .accepted)
    }

    private func promoId(_ context: IngressContext) throws -> UUID {
        guard let id = UUID(uuidString: try context.parameters.require("id")) else {
            throw APIError(.notFound, .promoNotFound, "no such promo")
        }
        return id
    }
}
