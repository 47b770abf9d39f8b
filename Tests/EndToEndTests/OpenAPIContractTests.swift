import ArmadaTestSupport
import Curl
import Foundation
import Testing
import WalletContracts
import Yams

@testable import Ingress
@testable import Wallet

typealias JSON = JSONValue

/// Docs/openapi.yaml, and the checks a response must pass against it.
struct OpenAPIDocument {
    let root: [String: Any]

    init() throws {
        let text = try String(contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("Docs/openapi.yaml"), encoding: .utf8)
        root = try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    var paths: [String: [String: Any]] { root["paths"] as? [String: [String: Any]] ?? [:] }

    /// Every (METHOD, path template) the document describes.
    var operations: Set<String> {
        Set(
            paths.flatMap { path, item in
                item.keys.filter { ["get", "post", "put", "patch", "delete"].contains($0) }.map { "\($0.uppercased()) \(path)" }
            })
    }

    func resolve(_ node: [String: Any]) -> [String: Any] {
        guard let ref = node["$ref"] as? String else { return node }
        var current: Any = root
        for part in ref.dropFirst(2).split(separator: "/") { current = (current as? [String: Any])?[String(part)] as Any }
        return resolve(current as? [String: Any] ?? [:])
    }

    /// Problems with `body` answered with `status` for `operation`; empty when it conforms.
    func check(operation: String, status: Int, contentType: String?, body: [UInt8]) -> [String] {
        let parts = operation.split(separator: " ", maxSplits: 1).map(String.init)
        guard let item = paths[parts[1]], let op = item[parts[0].lowercased()] as? [String: Any] else {
            return ["\(operation) is not documented"]
        }
        guard let responses = op["responses"] as? [String: Any], let raw = responses["\(status)"] as? [String: Any] else {
            return ["\(operation) answered \(status), which is not documented"]
        }
        let response = resolve(raw)
        guard let content = response["content"] as? [String: Any] else { return [] }
        if content["text/plain"] != nil {
            return contentType?.hasPrefix("text/plain") == true ? [] : ["\(operation) \(status) is not text/plain"]
        }
        if content["text/html"] != nil {
            return contentType?.hasPrefix("text/html") == true ? [] : ["\(operation) \(status) is not text/html"]
        }
        guard contentType?.hasPrefix("application/json") == true else {
            return ["\(operation) \(status): content type \(contentType ?? "none")"]
        }
        guard let schema = ((content["application/json"] as? [String: Any])?["schema"]) as? [String: Any] else { return [] }
        guard let value = try? JSONDecoder().decode(JSON.self, from: Data(body)) else {
            return ["\(operation) \(status): body is not JSON"]
        }
        return validate(value, schema, at: "\(operation) \(status) $")
    }

    func validate(_ value: JSON, _ rawSchema: [String: Any], at path: String) -> [String] {
        let schema = resolve(rawSchema)
        var problems: [String] = []
        if let types = (schema["type"] as? [String]) ?? (schema["type"] as? String).map({ [$0] }) {
            let matches = types.contains { type in
                switch (type, value) {
                case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null),
                    ("integer", .integer),
                    ("number", .integer), ("number", .number):
                    return true
                default: return false
                }
            }
            if !matches { return ["\(path): \(value) is not \(types.joined(separator: "|"))"] }
        }
        if let allowed = schema["enum"] as? [Any] {
            let ok = allowed.contains { candidate in
                switch value {
                case .string(let s): return (candidate as? String) == s
                case .bool(let b): return (candidate as? Bool) == b
                case .integer(let i): return (candidate as? Int).map(Int64.init) == i
                default: return false
                }
            }
            if !ok { problems.append("\(path): \(value) is not one of \(allowed)") }
        }
        if case .object(let object) = value {
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for key in schema["required"] as? [String] ?? [] where object[key] == nil { problems.append("\(path): missing \(key)") }
            if (schema["additionalProperties"] as? Bool) == false {
                for key in object.keys where properties[key] == nil { problems.append("\(path): undocumented field \(key)") }
            }
            for (key, child) in object {
                if let childSchema = properties[key] as? [String: Any] { problems += validate(child, childSchema, at: "\(path).\(key)") }
            }
        }
        if case .array(let items) = value, let itemSchema = schema["items"] as? [String: Any] {
            for (index, item) in items.enumerated() { problems += validate(item, itemSchema, at: "\(path)[\(index)]") }
        }
        return problems
    }
}

@Suite("The running ingress against Docs/openapi.yaml")
struct OpenAPIContractTests {
    @Test("the ingress's route table (what answers 405) is exactly the document's paths and methods")
    func routeTable() throws {
        let spec = try OpenAPIDocument()
        let documented = Dictionary(
            uniqueKeysWithValues: spec.paths.map { path, item in
                (path, Set(item.keys.filter { ["get", "post", "put", "patch", "delete"].contains($0) }.map { $0.uppercased() }))
            })
        let table = Dictionary(uniqueKeysWithValues: IngressRoutes.table.map { ($0.template, Set($0.methods)) })
        #expect(table == documented)
        #expect(IngressRoutes.methods(for: "/api/v1/wallet/deposits/3d92dfc5-a0b9-5cb5-b52c-b87e9fca4f11") == ["GET", "DELETE"])
        #expect(IngressRoutes.methods(for: "/api/v1/nothing") == nil)
    }

    @Test("every documented operation is exercised; every answer is a documented status with a body matching its schema")
    func contract() async throws {
        let spec = try OpenAPIDocument()
        let pool = TestDatabase.pool(size: 1, name: "contract")
        let base = try await RunningSystem.shared.baseURL()
        let customerId = TestEnvironment.unique("cust")
        let customer = APIClient(base: base, token: try await Tokens.make(customer: customerId))
        let admin = APIClient(base: base, token: try await Tokens.make(customer: TestEnvironment.unique("admin"), role: "admin"))
        let anonymous = APIClient(base: base, token: nil)
        var exercised: [(operation: String, response: HTTPResponse)] = []
        func call(_ client: APIClient, _ method: String, _ template: String, _ path: String? = nil, json: String? = nil, key: Bool = false)
            async throws -> HTTPResponse
        {
            let response = try await client.send(method, path ?? template, json: json, idempotencyKey: key ? UUID().uuidString : nil)
            exercised.append(("\(method) \(template)", response))
            return response
        }

        _ = try await call(anonymous, "GET", "/health")
        _ = try await call(anonymous, "GET", "/ready")
        _ = try await call(anonymous, "GET", "/metrics")
        let (callback, signature) = signedCallback(reference: "T0001CONTRACT")
        let webhook = try await postCallback(base, body: callback, signature: signature)
        exercised.append(("POST /api/v1/webhooks/tripay", webhook))
        exercised.append(("POST /api/v1/webhooks/tripay", try await postCallback(base, body: callback, signature: nil)))

        _ = try await call(anonymous, "GET", "/api/v1/wallet")
        _ = try await call(customer, "GET", "/api/v1/wallet")
        _ = try await call(customer, "GET", "/api/v1/wallet/transactions")
        _ = try await call(customer, "GET", "/api/v1/wallet/transactions", "/api/v1/wallet/transactions?limit=0")
        _ = try await call(customer, "GET", "/api/v1/payment-channels")
        let created = try await call(
            customer, "POST", "/api/v1/wallet/deposits", json: #"{"amount": 150000, "method": "BRIVA"}"#, key: true)
        _ = try await call(customer, "POST", "/api/v1/wallet/deposits", json: #"{"amount": 1, "method": "BRIVA"}"#, key: true)
        let commandId = try #require(json(created)["commandId"] as? String)
        let depositId = try #require(json(created)["depositId"] as? String)
        _ = try await customer.awaitCommand(commandId)
        _ = try await call(customer, "GET", "/api/v1/commands/{id}", "/api/v1/commands/\(commandId)")
        _ = try await call(customer, "GET", "/api/v1/wallet/deposits")
        _ = try await call(customer, "GET", "/api/v1/wallet/deposits/{id}", "/api/v1/wallet/deposits/\(depositId)")
        _ = try await call(customer, "GET", "/api/v1/wallet/deposits/{id}", "/api/v1/wallet/deposits/\(UUID().uuidString)")
        _ = try await call(customer, "DELETE", "/api/v1/wallet/deposits/{id}", "/api/v1/wallet/deposits/\(depositId)", key: true)
        _ = try await call(
            customer, "PUT", "/api/v1/me/contact", json: #"{"email": "budi@example.test", "name": "Budi", "locale": "id"}"#, key: true)
        _ = try await call(customer, "PUT", "/api/v1/me/contact", json: #"{"email": "not-an-email"}"#, key: true)
        _ = try await call(customer, "GET", "/api/v1/me/contact")
        _ = try await call(
            customer, "PUT", "/api/v1/me/contact", json: #"{"telegramChatId": "123456789", "timeZone": "Asia/Makassar"}"#, key: true)
        _ = try await call(customer, "PUT", "/api/v1/me/contact", json: #"{"timeZone": "Mars/Olympus"}"#, key: true)
        _ = try await call(customer, "GET", "/api/v1/notifications")
        _ = try await call(customer, "GET", "/api/v1/notifications", "/api/v1/notifications?limit=5&cursor=nope")
        _ = try await call(customer, "POST", "/api/v1/promos/validate", json: #"{"code": "NOSUCHPROMO", "amount": 50000}"#)
        _ = try await call(customer, "GET", "/api/v1/promos/welcome-bonus")
        _ = try await call(customer, "POST", "/api/v1/promos/welcome-bonus/claim", key: true)
        _ = try await call(customer, "GET", "/api/v1/admin/promos")
        let promo = try await call(
            admin, "POST", "/api/v1/admin/promos",
            json:
                #"{"code": "CONTRACT\#(UUID().uuidString.prefix(6))", "name": "Contract", "type": "SPECIAL_EVENT", "bonusType": "FIXED_AMOUNT", "bonusValue": 1000}"#,
            key: true)
        let promoCommand = try await admin.awaitCommand(try #require(json(promo)["commandId"] as? String))
        let promoId = try #require(json(promo)["promoId"] as? String)
        #expect(promoCommand["status"] as? String == "succeeded")
        let code = try #require((promoCommand["result"] as? [String: Any])?["code"] as? String)
        _ = try await call(customer, "POST", "/api/v1/promos/validate", json: #"{"code": "\#(code)", "amount": 50000}"#)
        _ = try await call(admin, "GET", "/api/v1/admin/promos")
        _ = try await call(
            admin, "PATCH", "/api/v1/admin/promos/{id}", "/api/v1/admin/promos/\(promoId)", json: #"{"name": "Renamed"}"#, key: true)
        _ = try await call(
            admin, "PATCH", "/api/v1/admin/promos/{id}", "/api/v1/admin/promos/\(promoId)", json: #"{"code": "X"}"#, key: true)
        _ = try await call(admin, "DELETE", "/api/v1/admin/promos/{id}", "/api/v1/admin/promos/\(promoId)", key: true)
        _ = try await call(
            admin, "POST", "/api/v1/admin/wallets/{customerId}/adjustments", "/api/v1/admin/wallets/\(customerId)/adjustments",
            json: #"{"amount": 5000, "description": "contract"}"#, key: true)
        _ = try await call(
            customer, "POST", "/api/v1/admin/wallets/{customerId}/adjustments", "/api/v1/admin/wallets/\(customerId)/adjustments",
            json: #"{"amount": 5000, "description": "contract"}"#, key: true)

        // Orders: the catalog, an order paid by the adjustment above (once it is credited), its
        // actions, and the refusals the order's state gives.
        _ = try await call(customer, "GET", "/api/v1/plans")
        _ = try await call(customer, "GET", "/api/v1/images")
        _ = try await call(customer, "GET", "/api/v1/regions")
        let funded = try await pool.withConnection { connection in
            try Ledger.credit(
                customerId, amount: 50_000, reference: .adminAdjustment, referenceId: "contract-\(customerId)", description: "contract",
                on: connection)
        }
        #expect(funded.entry.amount == 50_000)
        let placed = try await call(
            customer, "POST", "/api/v1/orders",
            json:
                #"{"planId": "\#(OrderEndToEndTests.basicPlan)", "image": "debian-12-x64", "billingPeriod": "MONTHLY", "hostname": "contract-1"}"#,
            key: true)
        _ = try await call(
            customer, "POST", "/api/v1/orders",
            json: #"{"planId": "\#(OrderEndToEndTests.basicPlan)", "image": "debian-12-x64", "billingPeriod": "DAILY"}"#,
            key: true)
        let orderId = try #require(json(placed)["orderId"] as? String)
        let order = "/api/v1/orders/\(orderId)"
        _ = await eventually(timeout: .seconds(40), every: .milliseconds(200)) {
            (try? await customer.send("GET", order)).map { json($0)["status"] as? String == "ACTIVE" } ?? false
        }
        _ = try await call(customer, "GET", "/api/v1/orders")
        _ = try await call(customer, "GET", "/api/v1/orders", "/api/v1/orders?cursor=nope")
        _ = try await call(customer, "GET", "/api/v1/orders/{id}", order)
        _ = try await call(customer, "GET", "/api/v1/orders/{id}", "/api/v1/orders/\(UUID().uuidString)")
        _ = try await call(customer, "PATCH", "/api/v1/orders/{id}", order, json: #"{"autoRenew": false}"#, key: true)
        _ = try await call(customer, "POST", "/api/v1/orders/{id}/reboot", order + "/reboot", key: true)
        _ = try await call(customer, "POST", "/api/v1/orders/{id}/power-off", order + "/power-off", key: true)
        _ = try await call(customer, "POST", "/api/v1/orders/{id}/power-on", order + "/power-on", key: true)
        _ = try await call(
            customer, "POST", "/api/v1/orders/{id}/rebuild", order + "/rebuild", json: #"{"image": "ubuntu-22-04-x64"}"#, key: true)
        _ = try await call(
            customer, "POST", "/api/v1/orders/{id}/rebuild", order + "/rebuild", json: #"{"image": "no-such-image"}"#, key: true)
        _ = try await call(customer, "GET", "/api/v1/orders/{id}/console", order + "/console")
        _ = try await call(customer, "POST", "/api/v1/orders/{id}/renew", order + "/renew", key: true)
        _ = try await call(
            admin, "POST", "/api/v1/admin/orders/{id}/retry-provisioning", "/api/v1/admin/orders/\(orderId)/retry-provisioning", key: true)
        _ = try await call(admin, "GET", "/api/v1/admin/do-accounts")
        _ = try await call(customer, "GET", "/api/v1/admin/do-accounts")
        _ = try await call(anonymous, "GET", "/ops")
        let ops = try await call(admin, "GET", "/api/v1/admin/ops")
        #expect(ops.status == 200, "the running ingress samples its queues: \(String(decoding: ops.body, as: UTF8.self))")
        _ = try await call(customer, "GET", "/api/v1/admin/ops")
        _ = try await call(customer, "DELETE", "/api/v1/orders/{id}", order, key: true)

        // The admin's catalog and accounts.
        _ = try await call(admin, "GET", "/api/v1/admin/plans")
        let plan = try await call(
            admin, "POST", "/api/v1/admin/plans",
            json:
                #"{"name": "contract-\#(UUID().uuidString.prefix(8).lowercased())", "displayName": "Contract", "vcpu": 1, "memoryMb": 1024, "diskGb": 25, "bandwidthTb": 1, "sizeSlug": "s-1vcpu-1gb", "priceMonthly": 10000, "active": false}"#,
            key: true)
        let planId = try #require(json(plan)["planId"] as? String)
        _ = try await admin.awaitCommand(try #require(json(plan)["commandId"] as? String))
        _ = try await call(admin, "POST", "/api/v1/admin/plans", json: #"{"name": "Not A Slug"}"#, key: true)
        _ = try await call(
            admin, "PATCH", "/api/v1/admin/plans/{id}", "/api/v1/admin/plans/\(planId)",
            json: #"{"priceMonthly": null, "priceYearly": 90000}"#, key: true)
        _ = try await call(
            admin, "PATCH", "/api/v1/admin/plans/{id}", "/api/v1/admin/plans/\(UUID().uuidString)", json: #"{"active": true}"#, key: true)
        _ = try await call(admin, "DELETE", "/api/v1/admin/plans/{id}", "/api/v1/admin/plans/\(planId)", key: true)
        for kind in ["images", "regions"] {
            let slug = "ct" + UUID().uuidString.prefix(8).lowercased().filter(\.isLetter)
            _ = try await call(admin, "GET", "/api/v1/admin/\(kind)")
            let added = try await call(
                admin, "POST", "/api/v1/admin/\(kind)",
                json: #"{"slug": "\#(slug)", "displayName": "Contract", "active": false, "sortOrder": 1000}"#,
                key: true)
            _ = try await admin.awaitCommand(try #require(json(added)["commandId"] as? String))
            _ = try await call(
                admin, "PATCH", "/api/v1/admin/\(kind)/{slug}", "/api/v1/admin/\(kind)/\(slug)", json: #"{"displayName": "Renamed"}"#,
                key: true)
            _ = try await call(
                admin, "PATCH", "/api/v1/admin/\(kind)/{slug}", "/api/v1/admin/\(kind)/zz-none", json: #"{"active": true}"#, key: true)
            _ = try await call(admin, "DELETE", "/api/v1/admin/\(kind)/{slug}", "/api/v1/admin/\(kind)/\(slug)", key: true)
        }
        _ = try await call(
            admin, "POST", "/api/v1/admin/do-accounts", json: #"{"name": "contract-bad", "token": "not-a-real-token"}"#, key: true)
        _ = try await call(
            admin, "PATCH", "/api/v1/admin/do-accounts/{id}", "/api/v1/admin/do-accounts/\(UUID().uuidString)", json: #"{"active": false}"#,
            key: true)
        _ = try await call(customer, "GET", "/api/v1/admin/plans")

        var problems: [String] = []
        for (operation, response) in exercised {
            problems += spec.check(
                operation: operation, status: response.status, contentType: response.header("content-type"), body: response.body)
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        let missing = spec.operations.subtracting(exercised.map(\.operation))
        #expect(missing.isEmpty, "documented but not exercised: \(missing.sorted())")
        #expect(Set(exercised.map { $0.response.status }).isSuperset(of: [200, 202, 401, 403, 404, 409, 422]))
    }
}
