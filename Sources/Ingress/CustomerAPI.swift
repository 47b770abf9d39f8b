import Foundation
import Hummingbird
import Messaging
import NotificationsContracts
import Postgres
import WalletContracts

/// The customer routes under `/api/v1`: thin — validate, publish a command, or read Postgres.
/// Every read is scoped to the caller; another customer's resource is a plain 404.
struct CustomerAPI: Sendable {
    let pool: PostgresPool
    let gateway: CommandGateway
    let depositPolicy: DepositPolicy

    func addRoutes(to group: RouterGroup<IngressContext>) {
        group.get("/wallet") { _, context in try await wallet(context) }
        group.get("/wallet/transactions") { request, context in try await transactions(request, context) }
        group.get("/payment-channels") { _, _ in try await channels() }
        group.post("/wallet/deposits") { request, context in try await createDeposit(request, context) }
        group.get("/wallet/deposits") { request, context in try await deposits(request, context) }
        group.get("/wallet/deposits/:id") { _, context in try await deposit(context) }
        group.delete("/wallet/deposits/:id") { request, context in try await cancelDeposit(request, context) }
        group.get("/commands/:id") { _, context in try await command(context) }
        group.put("/me/contact") { request, context in try await updateContact(request, context) }
        group.get("/me/contact") { _, context in try await contact(context) }
        group.get("/notifications") { request, context in try await notifications(request, context) }
    }

    struct ContactView: Encodable {
        var email: String?
        var name: String?
        var telegramChatId: String?
        var locale: String
        var timeZone: String
    }

    /// The contact details on record (defaults before any were set).
    func contact(_ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let contact = try await pool.withConnection { try Customers.contact(customer, on: $0) }
        return try encodedResponse(
            ContactView(
                email: contact?.email, name: contact?.displayName, telegramChatId: contact?.telegramChatId, locale: contact?.locale ?? "id",
                timeZone: contact?.timeZone ?? "Asia/Jakarta"))
    }

    /// The customer's own notifications, newest first, with each channel's delivery.
    func notifications(_ request: Request, _ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let limit = try request.pageLimit()
        let before = try OrderCursor.read(request)
        let items = try await pool.withConnection { try Notifications.views(customerId: customer, limit: limit, before: before, on: $0) }
        return try encodedResponse(Page(items: items, nextCursor: OrderCursor.next(items, limit: limit) { ($0.occurredAt, $0.id) }))
    }

    struct WalletView: Encodable {
        var customerId: String
        var balance: Int64
        var currency = "IDR"
    }

    func wallet(_ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let balance = try await pool.withConnection { try Ledger.balance(of: customer, on: $0) }
        return try encodedResponse(WalletView(customerId: customer, balance: balance))
    }

    struct Page<Item: Encodable>: Encodable {
        var items: [Item]
        var nextCursor: String?
    }

    func transactions(_ request: Request, _ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let limit = try request.pageLimit()
        let cursor: Int64? = try request.uri.queryParameters.get("cursor").map { text in
            // Exactly what Docs/openapi.yaml's pattern allows: no sign, no leading zero, 18 digits at most.
            guard text.utf8.count <= 18, text.first != "0", text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber),
                let value = Int64(text), value > 0
            else {
                throw APIError(.unprocessableContent, .validationFailed, "'cursor' is not a cursor this API returned", field: "cursor")
            }
            return value
        }
        let entries = try await pool.withConnection {
            try Ledger.entries(customerId: customer, before: cursor, limit: limit, on: $0)
        }
        return try encodedResponse(Page(items: entries, nextCursor: entries.count == limit ? entries.last.map { String($0.id) } : nil))
    }

    struct ChannelView: Encodable {
        var code: String
        var name: String
        var group: String
        var feeFlat: Int64
        var feePercent: Double
        var minimumFee: Int64?
        var maximumFee: Int64?
        var minimumAmount: Int64?
        var maximumAmount: Int64?
        var iconUrl: String?
    }

    func channels() async throws -> Response {
        let channels = try await pool.withConnection { try PaymentChannels.all(on: $0) }.filter(\.active).map {
            ChannelView(
                code: $0.code, name: $0.name, group: $0.group, feeFlat: $0.feeCustomer.flat, feePercent: $0.feeCustomer.percent,
                minimumFee: $0.minimumFee, maximumFee: $0.maximumFee, minimumAmount: $0.minimumAmount, maximumAmount: $0.maximumAmount,
                iconUrl: $0.iconURL)
        }
        return try encodedResponse(["items": channels])
    }

    struct Accepted: Encodable {
        var commandId: String
        var depositId: String?
        var status = "pending"

        init(commandId: UUID, depositId: UUID?) {
            self.commandId = commandId.uuidString.lowercased()
            self.depositId = depositId?.uuidString.lowercased()
        }
    }

    func createDeposit(_ request: Request, _ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let key = try request.idempotencyKey()
        let body = try await JSONBody.read(request, allowed: ["amount", "method", "promoCode"])
        let amount = try body.int64("amount", in: depositPolicy.minimumAmount...depositPolicy.maximumAmount)
        let method = try body.string("method", maxLength: 32, pattern: "^[A-Z0-9_]+$")!
        let promo = try body.string("promoCode", required: false, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$")
        let commandId = try await gateway.submit(
            {
                CreateDeposit(
                    depositId: CreateDeposit.depositId(for: $0), customerId: customer, amount: amount, method: method, promoCode: promo)
            },
            customerId: customer, idempotencyKey: key, requestFingerprint: Array("POST /wallet/deposits\n".utf8) + body.raw)
        return try encodedResponse(Accepted(commandId: commandId, depositId: CreateDeposit.depositId(for: commandId)), status: .accepted)
    }

    func deposits(_ request: Request, _ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let limit = try request.pageLimit()
        let items = try await pool.withConnection { try Deposits.views(customerId: customer, limit: limit, on: $0) }
        return try encodedResponse(["items": items])
    }

    func deposit(_ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        guard let id = UUID(uuidString: try context.parameters.require("id")),
            let found = try await pool.withConnection({ try Deposits.view(id, customerId: customer, on: $0) })
        else { throw APIError(.notFound, .depositNotFound, "no such deposit") }
        return try encodedResponse(found)
    }

    func cancelDeposit(_ request: Request, _ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let key = try request.idempotencyKey()
        // A read, to answer 404 at once for an unknown or foreign deposit; the worker checks the state.
        guard let id = UUID(uuidString: try context.parameters.require("id")),
            try await pool.withConnection({ try Deposits.view(id, customerId: customer, on: $0) }) != nil
        else { throw APIError(.notFound, .depositNotFound, "no such deposit") }
        let commandId = try await gateway.submit(
            { _ in CancelDeposit(depositId: id, customerId: customer) }, customerId: customer, idempotencyKey: key,
            requestFingerprint: Array("DELETE /wallet/deposits/\(id.uuidString.lowercased())".utf8))
        return try encodedResponse(Accepted(commandId: commandId, depositId: id), status: .accepted)
    }

    func command(_ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        guard let id = UUID(uuidString: try context.parameters.require("id")) else {
            throw APIError(.notFound, .commandNotFound, "no such command")
        }
        guard let record = try await pool.withConnection({ try Commands.find(id, customerId: customer, on: $0) }) else {
            throw APIError(.notFound, .commandNotFound, "no such command")
        }
        var view: [String: Any] = ["commandId": id.uuidString.lowercased(), "type": record.type, "status": record.status.rawValue]
        if let result = record.result, let object = try? JSONSerialization.jsonObject(with: Data(result.utf8)) {
            view["result"] = object
        }
        if let code = record.errorCode {
            view["error"] = ["code": code, "message": record.errorMessage ?? ""]
        }
        return jsonResponse(view)
    }

    func updateContact(_ request: Request, _ context: IngressContext) async throws -> Response {
        let customer = try context.requireIdentity().customerId
        let key = try request.idempotencyKey()
        let body = try await JSONBody.read(request, allowed: ["email", "name", "telegramChatId", "locale", "timeZone"])
        // An address SMTP takes as is: no spaces, quotes, angle brackets, commas or semicolons (the
        // same pattern as Docs/openapi.yaml's, which regex engines read alike).
        let email = try body.string(
            "email", required: false, maxLength: 254, pattern: #"^[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"#)
        let name = try body.string("name", required: false, maxLength: 100)
        // A private chat's id (a user who started the bot): a customer cannot point the bot at a
        // group or channel it belongs to.
        let chat = try body.string("telegramChatId", required: false, maxLength: 16, pattern: #"^[1-9][0-9]{0,15}$"#)
        let locale = try body.string("locale", required: false, maxLength: 2, pattern: "^(id|en)$") ?? "id"
        let timeZone = try body.string("timeZone", required: false, maxLength: 20, pattern: "^Asia/(Jakarta|Makassar|Jayapura)$")
        let commandId = try await gateway.submit(
            { _ in
                UpdateContact(
                    customerId: customer, email: email, displayName: name, telegramChatId: chat, locale: locale, timeZone: timeZone)
            },
            customerId: customer, idempotencyKey: key, requestFingerprint: Array("PUT /me/contact\n".utf8) + body.raw)
        return try encodedResponse(Accepted(commandId: commandId, depositId: nil), status: .accepted)
    }
}
