import Foundation
import Hummingbird
import Messaging
import OrdersContracts
import Postgres

/// Admin routes for the catalog (plans, images, regions) and the DigitalOcean accounts. Every
/// change is a provisioner command; a plan, image or region is deactivated, never deleted.
struct AdminCatalogAPI: Sendable {
    let pool: PostgresPool
    let gateway: CommandGateway
    /// Seals a new account's token before it leaves the ingress; nil without ARMADA_ENCRYPTION_KEY.
    let sealer: TokenSealer?

    func addRoutes(to group: RouterGroup<IngressContext>) {
        group.get("/admin/plans") { _, context in try await plans(context) }
        group.post("/admin/plans") { request, context in try await createPlan(request, context) }
        group.patch("/admin/plans/:id") { request, context in try await updatePlan(request, context) }
        group.delete("/admin/plans/:id") { request, context in try await deactivatePlan(request, context) }
        for kind in [CatalogKind.image, .region] {
            let path = "/admin/\(kind.table)"
            group.get(RouterPath(path)) { _, context in try await entries(kind, context) }
            group.post(RouterPath(path)) { request, context in try await saveEntry(kind, .create, request, context) }
            group.patch(RouterPath(path + "/:slug")) { request, context in try await saveEntry(kind, .update, request, context) }
            group.delete(RouterPath(path + "/:slug")) { request, context in try await saveEntry(kind, .deactivate, request, context) }
        }
        group.post("/admin/do-accounts") { request, context in try await addAccount(request, context) }
        group.patch("/admin/do-accounts/:id") { request, context in try await updateAccount(request, context) }
    }

    func accepted(_ commandId: UUID, _ extra: [String: String] = [:]) throws -> Response {
        var body = extra
        body["commandId"] = commandId.uuidString.lowercased()
        body["status"] = "pending"
        return try encodedResponse(body, status: .accepted)
    }

    func plans(_ context: IngressContext) async throws -> Response {
        _ = try context.requireAdmin()
        let plans = try await pool.withConnection { try Catalog.plans(includeInactive: true, on: $0) }
        return try encodedResponse(["items": plans.map(\.adminView)])
    }

    static let planFields: Set<String> = [
        "name", "displayName", "vcpu", "memoryMb", "diskGb", "bandwidthTb", "sizeSlug", "active", "sortOrder", "priceDaily",
        "priceMonthly", "priceYearly", "allowDaily", "allowMonthly", "allowYearly",
    ]

    func planFields(_ body: JSONBody, creating: Bool) throws -> ManagePlan.Fields {
        var fields = ManagePlan.Fields()
        fields.name = try body.string("name", required: creating, maxLength: 63, pattern: "^[a-z0-9][a-z0-9-]{0,62}$")
        fields.displayName = try body.string("displayName", required: creating, maxLength: 100)
        func count(_ name: String, _ range: ClosedRange<Int64>) throws -> Int? {
            if creating { return Int(try body.int64(name, in: range)) }
            return try body.optionalInt64(name, in: range).map(Int.init)
        }
        fields.vcpu = try count("vcpu", 1...512)
        fields.memoryMb = try count("memoryMb", 1...4_194_304)
        fields.diskGb = try count("diskGb", 1...100_000)
        fields.bandwidthTb =
            try creating
            ? Double(try body.int64("bandwidthTb", in: 0...1_000)) : body.optionalInt64("bandwidthTb", in: 0...1_000).map(Double.init)
        fields.sizeSlug = try body.string("sizeSlug", required: creating, maxLength: 64, pattern: "^[a-z0-9][a-z0-9-]{0,63}$")
        fields.active = try body.bool("active")
        fields.sortOrder = try body.optionalInt64("sortOrder", in: -1_000_000...1_000_000).map(Int.init)
        fields.priceDaily = try body.optionalInt64("priceDaily", in: 1...1_000_000_000_000)
        fields.priceMonthly = try body.optionalInt64("priceMonthly", in: 1...1_000_000_000_000)
        fields.priceYearly = try body.optionalInt64("priceYearly", in: 1...1_000_000_000_000)
        fields.allowDaily = try body.bool("allowDaily")
        fields.allowMonthly = try body.bool("allowMonthly")
        fields.allowYearly = try body.bool("allowYearly")
        return fields
    }

    func createPlan(_ request: Request, _ context: IngressContext) async throws -> Response {
        let admin = try context.requireAdmin().customerId
        let key = try request.idempotencyKey()
        let body = try await JSONBody.read(request, allowed: Self.planFields)
        let fields = try planFields(body, creating: true)
        let commandId = try await gateway.submit(
            { ManagePlan(action: .create, planId: ManagePlan.planId(for: $0), fields: fields) }, customerId: admin, idempotencyKey: key,
            requestFingerprint: Array("POST /admin/plans\n".utf8) + body.raw)
        return try accepted(commandId, ["planId": ManagePlan.planId(for: commandId).uuidString.lowercased()])
    }

    func planId(_ context: IngressContext) async throws -> UUID {
        guard let id = UUID(uuidString: try context.parameters.require("id")),
            try await pool.withConnection({ try Catalog.plan(id, on: $0) }) != nil
        else { throw APIError(.notFound, .planNotFound, "no such plan") }
        return id
    }

    func updatePlan(_ request: Request, _ context: IngressContext) async throws -> Response {
        let admin = try context.requireAdmin().customerId
        let key = try request.idempotencyKey()
        let body = try await JSONBody.read(
            request, allowed: Self.planFields, nullable: Set(ManagePlan.ClearablePrice.allCases.map(\.rawValue)))
        let fields = try planFields(body, creating: false)
        let cleared = ManagePlan.ClearablePrice.allCases.filter { field in
            if case .null = body.object[field.rawValue] { return true }
            return false
        }
        let id = try await planId(context)
        let commandId = try await gateway.submit(
            { _ in ManagePlan(action: .update, planId: id, fields: fields, cleared: cleared) }, customerId: admin, idempotencyKey: key,
            requestFingerprint: Array("PATCH /admin/plans/\(id)\n".utf8) + body.raw)
        return try accepted(commandId, ["planId": id.uuidString.lowercased()])
    }

    func deactivatePlan(_ request: Request, _ context: IngressContext) async throws -> Response {
        let admin = try context.requireAdmin().customerId
        let key = try request.idempotencyKey()
        let id = try await planId(context)
        let commandId = try await gateway.submit(
            { _ in ManagePlan(action: .deactivate, planId: id, fields: .init()) }, customerId: admin, idempotencyKey: key,
            requestFingerprint: Array("DELETE /admin/plans/\(id)".utf8))
        return try accepted(commandId, ["planId": id.uuidString.lowercased()])
    }

    func entries(_ kind: CatalogKind, _ context: IngressContext) async throws -> Response {
        _ = try context.requireAdmin()
        return try encodedResponse(["items": try await pool.withConnection { try Catalog.entries(kind, includeInactive: true, on: $0) }])
    }

    func saveEntry(_ kind: CatalogKind, _ action: ManageCatalogEntry.Action, _ request: Request, _ context: IngressContext) async throws
        -> Response
    {
        let admin = try context.requireAdmin().customerId
        let key = try request.idempotencyKey()
        let pattern = kind == .image ? "^[a-z0-9][a-z0-9.-]{0,63}$" : "^[a-z0-9]{2,16}$"
        let slug: String
        var (displayName, active, sortOrder): (String?, Bool?, Int?) = (nil, nil, nil)
        var raw: [UInt8] = []
        if action == .deactivate {
            slug = try context.parameters.require("slug")
        } else {
            let body = try await JSONBody.read(
                request,
                allowed: action == .create ? ["slug", "displayName", "active", "sortOrder"] : ["displayName", "active", "sortOrder"])
            slug = action == .create ? try body.string("slug", maxLength: 64, pattern: pattern)! : try context.parameters.require("slug")
            displayName = try body.string("displayName", required: action == .create, maxLength: 100)
            active = try body.bool("active")
            sortOrder = try body.optionalInt64("sortOrder", in: -1_000_000...1_000_000).map(Int.init)
            raw = body.raw
        }
        if action != .create {
            guard try await pool.withConnection({ try Catalog.entry(kind, slug, on: $0) }) != nil else {
                throw APIError(.notFound, kind.notFound, "no \(kind.rawValue) \(slug)")
            }
        }
        let (entrySlug, name, flag, order) = (slug, displayName, active, sortOrder)
        let commandId = try await gateway.submit(
            { _ in ManageCatalogEntry(action: action, kind: kind, slug: entrySlug, displayName: name, active: flag, sortOrder: order) },
            customerId: admin, idempotencyKey: key,
            requestFingerprint: Array("\(request.method) /admin/\(kind.table)/\(slug)\n".utf8) + raw)
        return try accepted(commandId)
    }

    func addAccount(_ request: Request, _ context: IngressContext) async throws -> Response {
        let admin = try context.requireAdmin().customerId
        let key = try request.idempotencyKey()
        let body = try await JSONBody.read(request, allowed: ["name", "token", "dropletLimit", "primary"])
        let name = try body.string("name", maxLength: 100)!
        let token = try body.string("token", maxLength: 200, pattern: "^[A-Za-z0-9_.-]+$")!
        let limit = Int(try body.optionalInt64("dropletLimit", in: 0...10_000) ?? 25)
        let primary = try body.bool("primary") ?? false
        guard let sealer else {
            throw APIError(.unprocessableContent, .encryptionNotConfigured, "the ingress has no ARMADA_ENCRYPTION_KEY to seal tokens with")
        }
        let sealed = Data(try sealer.seal(token)).base64EncodedString()
        let fingerprint = TokenSealer.fingerprint(token)
        // The fingerprint, not the token, identifies the request: the token never reaches the commands table.
        let commandId = try await gateway.submit(
            {
                AddDOAccount(
                    accountId: AddDOAccount.accountId(for: $0), name: name, sealedToken: sealed, fingerprint: fingerprint,
                    dropletLimit: limit,
                    primary: primary)
            }, customerId: admin, idempotencyKey: key,
            requestFingerprint: Array("POST /admin/do-accounts\n\(name)\n\(fingerprint)\n\(limit)\n\(primary)".utf8))
        return try accepted(commandId, ["accountId": AddDOAccount.accountId(for: commandId).uuidString.lowercased()])
    }

    func updateAccount(_ request: Request, _ context: IngressContext) async throws -> Response {
        let admin = try context.requireAdmin().customerId
        let key = try request.idempotencyKey()
        let body = try await JSONBody.read(request, allowed: ["active", "dropletLimit", "primary"])
        let active = try body.bool("active")
        let limit = try body.optionalInt64("dropletLimit", in: 0...10_000).map(Int.init)
        let primary = try body.bool("primary")
        guard let id = UUID(uuidString: try context.parameters.require("id")),
            try await pool.withConnection({ try DOAccounts.views(on: $0) }).contains(where: { $0.id == id.uuidString.lowercased() })
        else { throw APIError(.notFound, .doAccountNotFound, "no such account") }
        let commandId = try await gateway.submit(
            { _ in UpdateDOAccount(accountId: id, active: active, dropletLimit: limit, primary: primary) }, customerId: admin,
            idempotencyKey: key, requestFingerprint: Array("PATCH /admin/do-accounts/\(id)\n".utf8) + body.raw)
        return try accepted(commandId, ["accountId": id.uuidString.lowercased()])
    }
}
