import Crypto
import Foundation
import Hummingbird
import Messaging
import OrdersContracts
import Postgres

/// Console links (DigitalOcean's API has none): a URL from a configurable template, signed and
/// valid for 10 minutes. Placeholders: `{orderId}`, `{dropletId}`, `{ipv4}`, `{expires}` (unix
/// time), `{signature}` (hex HMAC-SHA256 of `orderId:dropletId:expires` under the signing key).
public struct ConsoleLinks: Sendable {
    public var template: String
    public var signingKey: String
    public var lifetime: TimeInterval = 600

    public init(template: String, signingKey: String) {
        self.template = template
        self.signingKey = signingKey
    }

    func link(orderId: UUID, dropletId: Int64, ipv4: String?, now: Date) -> (url: String, expiresAt: Date) {
        let expires = now.addingTimeInterval(lifetime)
        let stamp = Int64(expires.timeIntervalSince1970)
        let order = orderId.uuidString.lowercased()
        let signature = HMAC<SHA256>.authenticationCode(
            for: Array("\(order):\(dropletId):\(stamp)".utf8), using: SymmetricKey(data: Array(signingKey.utf8))
        ).map { String(format: "%02x", $0) }.joined()
        let url = template.replacingOccurrences(of: "{orderId}", with: order)
            .replacingOccurrences(of: "{dropletId}", with: "\(dropletId)")
            .replacingOccurrences(of: "{ipv4}", with: ipv4 ?? "")
            .replacingOccurrences(of: "{expires}", with: "\(stamp)")
            .replacingOccurrences(of: "{signature}", with: signature)
        return (url, expires)
    }
}

/// The catalog and the customer's orders (`/plans`, `/images`, `/regions`, `/orders...`), and
/// the admin's order and account routes. What the catalog and the order's current state can tell
/// is answered at once (422, 409, 404); the rest is the provisioner's command.
struct OrdersAPI: Sendable {
    let pool: PostgresPool
    let gateway: CommandGateway
    let console: ConsoleLinks?

    func addRoutes(to group: RouterGroup<IngressContext>) {
        group.get("/plans") { _, context in try await plans(context) }
        group.get("/images") { _, context in try await entries(.image, context) }
        group.get("/regions") { _, context in try await entries(.region, context) }
        group.post("/orders") { request, context in try await placeOrder(request, context) }
        group.get("/orders") { request, context in try await orders(request, context) }
        group.get("/orders/:id") { _, context in try await order(context) }
        group.patch("/orders/:id") { request, context in try await setAutoRenew(request, context) }
        group.delete("/orders/:id") { request, context in try await deleteOrder(request, context) }
        for kind in RequestDropletAction.Kind.allCases {
            group.post("/orders/:id/\(kind.path)") { request, context in try await dropletAction(kind, request, context) }
        }
        group.post("/orders/:id/renew") { request, context in try await renew(request, context) }
        group.get("/orders/:id/console") { _, context in try await consoleLink(context) }
        group.post("/admin/orders/:id/retry-provisioning") { request, context in try await retry(request, context) }
        group.get("/admin/do-accounts") { _, context in try await accounts(context) }
    }

    func plans(_ context: IngressContext) async throws -> Response {
        _ = try context.requireIdentity()
        let plans = try await pool.withConnection { try Catalog.plans(includeInactive: false, on: $0) }
        return try encodedResponse(["items": plans.map(\.view)])
    }

    func entries(_ kind: CatalogKind, _ context: IngressContext) async throws -> Response {
        _ = try context.requireIdentity()
        let items = try await pool.withConnection { try Catalog.entries(kind, includeInactive: false, on: $0) }
        return try encodedResponse(["items": items.map { ["slug": $0.slug, "displayName": $0.displayName] }])
    }

    struct OrderAccepted: Encodable {
        var commandId: String
        var orderId: String
        var status = "pending"
    }

    static let orderFields: Set<String> = ["planId", "image", "region", "billingPeriod", "hostname", "sshKeys", "autoRenew"]
    static let slug = "^[a-z0-9][a-z0-9.-]{0,63}$"

    func placeOrder(_ request: Request, _ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let key = try request.idempotencyKey()
        let body = try await JSONBody.read(request, allowed: Self.orderFields)
        let planText = try body.string("planId", maxLength: 36)!
        guard let planId = UUID(uuidString: planText) else {
            throw APIError(.unprocessableContent, .validationFailed, "'planId' must be a UUID", field: "planId")
        }
        let image = try body.string("image", maxLength: 64, pattern: Self.slug)!
        let region = try body.string("region", required: false, maxLength: 16, pattern: "^[a-z0-9]{2,16}$")
        let period: BillingPeriod = try body.choice("billingPeriod")!
        let hostname = try body.string("hostname", required: false, maxLength: 63, pattern: "^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
        let sshKeys = try body.strings("sshKeys", maxCount: 10, maxLength: 100, pattern: "^[A-Za-z0-9:._-]+$") ?? []
        let autoRenew = try body.bool("autoRenew") ?? true
        let (plan, price, chosenRegion) = try await pool.withConnection { connection -> (Plan, Int64, String) in
            guard let plan = try Catalog.plan(planId, on: connection), plan.active else {
                throw APIError(.unprocessableContent, .planNotFound, "no active plan \(planText)", field: "planId")
            }
            guard try Catalog.entry(.image, image, on: connection)?.active == true else {
                throw APIError(.unprocessableContent, .imageNotFound, "no active image \(image)", field: "image")
            }
            let chosen: String
            if let region {
                guard try Catalog.entry(.region, region, on: connection)?.active == true else {
                    throw APIError(.unprocessableContent, .regionNotFound, "no active region \(region)", field: "region")
                }
                chosen = region
            } else {
                guard let first = try Catalog.defaultRegion(on: connection) else {
                    throw APIError(.unprocessableContent, .regionNotFound, "no region is open for orders", field: "region")
                }
                chosen = first
            }
            switch plan.price(for: period) {
            case .success(let price): return (plan, price, chosen)
            case .failure(let rejection): throw APIError(rejection, field: "billingPeriod")
            }
        }
        let commandId = try await gateway.submit(
            { commandId in
                let orderId = PlaceOrder.orderId(for: commandId)
                return PlaceOrder(
                    orderId: orderId, customerId: customer, planId: plan.id, planName: plan.name, sizeSlug: plan.sizeSlug, image: image,
                    region: chosenRegion, billingPeriod: period, price: price,
                    hostname: hostname ?? PlaceOrder.defaultHostname(for: orderId),
                    sshKeys: sshKeys, autoRenew: autoRenew)
            }, customerId: customer, idempotencyKey: key, requestFingerprint: Array("POST /orders\n".utf8) + body.raw)
        return try encodedResponse(
            OrderAccepted(
                commandId: commandId.uuidString.lowercased(), orderId: PlaceOrder.orderId(for: commandId).uuidString.lowercased()),
            status: .accepted)
    }

    struct Page<Item: Encodable>: Encodable {
        var items: [Item]
        var nextCursor: String?
    }

    func orders(_ request: Request, _ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let limit = try request.pageLimit()
        let before = try OrderCursor.read(request)
        let items = try await pool.withConnection { try Orders.views(customerId: customer, limit: limit, before: before, on: $0) }
        return try encodedResponse(Page(items: items, nextCursor: OrderCursor.next(items, limit: limit) { ($0.createdAt, $0.id) }))
    }

    /// The customer's own order; another customer's is a plain 404.
    func ownOrder(_ context: IngressContext, customer: String) async throws -> (UUID, OrderView) {
        guard let id = UUID(uuidString: try context.parameters.require("id")),
            let view = try await pool.withConnection({ try Orders.view(id, customerId: customer, on: $0) })
        else { throw APIError(.notFound, .orderNotFound, "no such order") }
        return (id, view)
    }

    func order(_ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        return try encodedResponse(try await ownOrder(context, customer: customer).1)
    }

    /// A retried request (same key) gets its first answer even when the order moved on since.
    func alreadySubmitted(_ customer: String, _ key: String) async throws -> Bool {
        let id = CommandGateway.commandId(customerId: customer, idempotencyKey: key)
        return try await pool.withConnection { try Commands.find(id, customerId: customer, on: $0) } != nil
    }

    func setAutoRenew(_ request: Request, _ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let key = try request.idempotencyKey()
        let body = try await JSONBody.read(request, allowed: ["autoRenew"])
        guard let autoRenew = try body.bool("autoRenew") else {
            throw APIError(.unprocessableContent, .validationFailed, "'autoRenew' is required", field: "autoRenew")
        }
        let (id, view) = try await ownOrder(context, customer: customer)
        if [.terminated, .failed].contains(view.status), !(try await alreadySubmitted(customer, key)) {
            throw APIError(.conflict, .invalidOrderState, "an order that is \(view.status.rawValue) does not renew")
        }
        let commandId = try await gateway.submit(
            { _ in SetAutoRenew(orderId: id, customerId: customer, autoRenew: autoRenew) }, customerId: customer, idempotencyKey: key,
            requestFingerprint: Array("PATCH /orders/\(id.uuidString.lowercased())\n".utf8) + body.raw)
        return try encodedResponse(OrderAccepted(commandId: commandId.uuidString.lowercased(), orderId: view.id), status: .accepted)
    }

    func renew(_ request: Request, _ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let key = try request.idempotencyKey()
        let (id, view) = try await ownOrder(context, customer: customer)
        if ![.active, .expiringSoon, .suspended].contains(view.status), !(try await alreadySubmitted(customer, key)) {
            throw APIError(.conflict, .invalidOrderState, "an order that is \(view.status.rawValue) cannot be renewed")
        }
        let commandId = try await gateway.submit(
            { _ in RenewOrder(orderId: id, customerId: customer) }, customerId: customer, idempotencyKey: key,
            requestFingerprint: Array("POST /orders/\(id.uuidString.lowercased())/renew".utf8))
        return try encodedResponse(OrderAccepted(commandId: commandId.uuidString.lowercased(), orderId: view.id), status: .accepted)
    }

    func deleteOrder(_ request: Request, _ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let key = try request.idempotencyKey()
        let (id, view) = try await ownOrder(context, customer: customer)
        if !view.status.allowsDropletActions, !(try await alreadySubmitted(customer, key)) {
            throw APIError(.conflict, .invalidOrderState, "an order that is \(view.status.rawValue) cannot be deleted")
        }
        let commandId = try await gateway.submit(
            { _ in DeleteOrder(orderId: id, customerId: customer) }, customerId: customer, idempotencyKey: key,
            requestFingerprint: Array("DELETE /orders/\(id.uuidString.lowercased())".utf8))
        return try encodedResponse(OrderAccepted(commandId: commandId.uuidString.lowercased(), orderId: view.id), status: .accepted)
    }

    struct ActionAccepted: Encodable {
        var commandId: String
        var orderId: String
        var actionId: String
        var status = "pending"
    }

    func dropletAction(_ kind: RequestDropletAction.Kind, _ request: Request, _ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let key = try request.idempotencyKey()
        var image: String?
        var raw: [UInt8] = []
        if kind == .rebuild {
            let body = try await JSONBody.read(request, allowed: ["image"])
            image = try body.string("image", maxLength: 64, pattern: Self.slug)
            raw = body.raw
        }
        let (id, view) = try await ownOrder(context, customer: customer)
        if !(try await alreadySubmitted(customer, key)) {
            guard view.status.allowsDropletActions, view.dropletStatus != nil else {
                throw APIError(.conflict, .invalidOrderState, "an order that is \(view.status.rawValue) has no droplet to \(kind.path)")
            }
            if let image {
                guard try await pool.withConnection({ try Catalog.entry(.image, image, on: $0) })?.active == true else {
                    throw APIError(.unprocessableContent, .imageNotFound, "no active image \(image)", field: "image")
                }
            }
        }
        let commandId = try await gateway.submit(
            { commandId in
                RequestDropletAction(
                    actionId: RequestDropletAction.actionId(for: commandId), orderId: id, customerId: customer, action: kind, image: image)
            }, customerId: customer, idempotencyKey: key,
            requestFingerprint: Array("POST /orders/\(id.uuidString.lowercased())/\(kind.path)\n".utf8) + raw)
        return try encodedResponse(
            ActionAccepted(
                commandId: commandId.uuidString.lowercased(), orderId: view.id,
                actionId: RequestDropletAction.actionId(for: commandId).uuidString.lowercased()),
            status: .accepted)
    }

    func consoleLink(_ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let (id, view) = try await ownOrder(context, customer: customer)
        guard let console else {
            throw APIError(.unprocessableContent, .consoleNotAvailable, "no console is configured for this installation")
        }
        guard view.status.allowsDropletActions,
            let dropletId = try await pool.withConnection({ try Orders.record(id, on: $0)?.dropletId })
        else { throw APIError(.conflict, .invalidOrderState, "an order that is \(view.status.rawValue) has no console") }
        let link = console.link(orderId: id, dropletId: dropletId, ipv4: view.publicIpv4, now: Date())
        return try encodedResponse(["url": link.url, "expiresAt": ISO8601DateFormatter().string(from: link.expiresAt)])
    }

    func retry(_ request: Request, _ context: IngressContext) async throws -> Response {
        let admin = try context.requireAdmin().customerId
        let key = try request.idempotencyKey()
        guard let id = UUID(uuidString: try context.parameters.require("id")),
            let order = try await pool.withConnection({ try Orders.record(id, on: $0) })
        else { throw APIError(.notFound, .orderNotFound, "no such order") }
        if order.status != .failed, !(try await alreadySubmitted(admin, key)) {
            throw APIError(.conflict, .invalidOrderState, "only a FAILED order can be retried; this one is \(order.status.rawValue)")
        }
        let commandId = try await gateway.submit(
            { _ in RetryProvisioning(orderId: id, admin: admin) }, customerId: admin, idempotencyKey: key,
            requestFingerprint: Array("POST /admin/orders/\(id.uuidString.lowercased())/retry-provisioning".utf8))
        return try encodedResponse(
            OrderAccepted(commandId: commandId.uuidString.lowercased(), orderId: id.uuidString.lowercased()), status: .accepted)
    }

    func accounts(_ context: IngressContext) async throws -> Response {
        _ = try context.requireAdmin()
        return try encodedResponse(["items": try await pool.withConnection { try DOAccounts.views(on: $0) }])
    }
}

extension RequestDropletAction.Kind {
    /// The route's last segment: `power-on`, `power-off`, `reboot`, `rebuild`.
    var path: String { rawValue.replacingOccurrences(of: "_", with: "-") }
}

/// `GET /orders`' and `GET /notifications`' cursor: the last item's time (microseconds) and id.
struct OrderCursor {
    var createdAt: Date
    var id: UUID

    init(_ createdAt: Date, _ id: UUID) {
        self.createdAt = createdAt
        self.id = id
    }

    init?(_ text: String) {
        let parts = text.split(separator: "_")
        guard parts.count == 2, parts[0].count <= 20, let micros = Int64(parts[0]), micros >= 0, let id = UUID(uuidString: String(parts[1]))
        else { return nil }
        self.init(Date(timeIntervalSince1970: Double(micros) / 1_000_000), id)
    }

    var text: String { "\(Int64((createdAt.timeIntervalSince1970 * 1_000_000).rounded()))_\(id.uuidString.lowercased())" }

    /// The request's `cursor`, or a 422 for one this API did not return.
    static func read(_ request: Request) throws -> (Date, UUID)? {
        try request.uri.queryParameters.get("cursor").map { text in
            guard let cursor = OrderCursor(text) else {
                throw APIError(.unprocessableContent, .validationFailed, "'cursor' is not a cursor this API returned", field: "cursor")
            }
            return (cursor.createdAt, cursor.id)
        }
    }

    /// The next page's cursor: after the last item of a full page.
    static func next<Item>(_ items: [Item], limit: Int, _ key: (Item) -> (Date, String)) -> String? {
        guard items.count == limit, let last = items.last else { return nil }
        let (time, id) = key(last)
        return UUID(uuidString: id).map { OrderCursor(time, $0).text }
    }
}
