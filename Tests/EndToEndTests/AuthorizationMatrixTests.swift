import ArmadaTestSupport
import Curl
import Foundation
import Postgres
import Testing
import WalletContracts

@testable import Ingress
@testable import Wallet

/// Every route of the ingress (`IngressRoutes.table`, which the contract test holds to
/// Docs/openapi.yaml), called by four principals against the running system: anonymous, customer
/// A (a stranger), customer B (who owns a deposit, an order and a command) and an admin. Path ids
/// are B's, so every cell asks "can this principal reach B's thing?". A new route joins the
/// matrix by itself, and fails it until its ids are classified below.
@Suite("Authorization matrix: every route, four principals")
struct AuthorizationMatrixTests {
    let pool = TestDatabase.pool(size: 2, name: "e2e-authz")
    static let basicPlan = "6a1f0c3e-0b7d-5b0e-9a51-000000000001"

    enum Principal: String, CaseIterable {
        case anonymous, stranger = "customer A", owner = "customer B (owner)", admin

        var isCustomer: Bool { self == .stranger || self == .owner }
    }

    /// What a cell shows: the principal was stopped (401, 403), was told the thing does not
    /// exist in exactly the words an unknown id gets, or reached the route's own logic.
    enum Outcome: Equatable, CustomStringConvertible {
        case unauthenticated, forbidden, notFoundAsUnknown, reached
        case leak(String)

        var description: String {
            switch self {
            case .unauthenticated: return "401"
            case .forbidden: return "403"
            case .notFoundAsUnknown: return "404 ≡ unknown"
            case .reached: return "✓"
            case .leak(let detail): return "LEAK \(detail)"
            }
        }
    }

    /// B's things, and the unknown ids of the same kinds.
    struct Fixture {
        var owner: String
        var stranger: String
        var orderId: String
        var depositId: String
        var commandId: String
        var ownerName: String

        /// The path for `template` with B's ids (or, `unknown`, ids nobody has); nil for a
        /// template this test does not know, which fails it.
        func path(_ template: String, as principal: Principal, unknown: Bool = false) -> String? {
            let random = UUID().uuidString.lowercased()
            let replacements: [(String, String)] = [
                ("/api/v1/wallet/deposits/{id}", unknown ? random : depositId),
                ("/api/v1/commands/{id}", unknown ? random : commandId),
                ("/api/v1/orders/{id}", unknown ? random : orderId),
                ("/api/v1/admin/orders/{id}", orderId),
                // A customer crediting their own wallet is the escalation to refuse.
                ("/api/v1/admin/wallets/{customerId}", principal == .stranger ? stranger : owner),
                ("/api/v1/admin/promos/{id}", random), ("/api/v1/admin/plans/{id}", random),
                ("/api/v1/admin/do-accounts/{id}", random), ("/api/v1/admin/images/{slug}", "authz-none"),
                ("/api/v1/admin/regions/{slug}", "authz-none"),
            ]
            guard template.contains("{") else { return template }
            for (prefix, value) in replacements where template.hasPrefix(prefix) {
                let key = prefix[prefix.range(of: "{")!.lowerBound...]
                return template.replacingOccurrences(of: String(key), with: value)
            }
            return nil
        }

        /// Whether the path names something of B's a stranger must not learn about.
        static func namesOwnersThing(_ template: String) -> Bool {
            ["/api/v1/wallet/deposits/{id}", "/api/v1/commands/{id}", "/api/v1/orders/{id}"].contains { template.hasPrefix($0) }
        }
    }

    /// A request body that passes validation where the route takes one, so a refusal is about
    /// who asks, not what was sent. Creates get `{}` (422: no new money or servers from a matrix),
    /// except a customer's credit to their own wallet, the escalation that must meet a 403 and not
    /// a validation error (the admin's own adjustment stays `{}`: B's balance must not move).
    static func body(_ method: String, _ template: String, _ principal: Principal) -> String? {
        switch (method, template) {
        case ("POST", "/api/v1/admin/wallets/{customerId}/adjustments") where principal != .admin:
            return #"{"amount":1000000,"description":"matrix escalation"}"#
        case ("PUT", "/api/v1/me/contact"): return #"{"name":"Matrix Probe"}"#
        case ("POST", "/api/v1/promos/validate"): return #"{"code":"AUTHZNONE","amount":50000}"#
        case ("PATCH", "/api/v1/orders/{id}"): return #"{"autoRenew":false}"#
        case ("POST", "/api/v1/orders/{id}/rebuild"): return #"{"image":"ubuntu-24-04-x64"}"#
        case ("POST", _), ("PUT", _), ("PATCH", _):
            return template.hasSuffix("}") || template.hasSuffix("/adjustments") || !template.contains("{") ? "{}" : nil
        default: return nil
        }
    }

    static func isPublic(_ template: String) -> Bool { !template.hasPrefix("/api/v1/") }
    static func isAdmin(_ template: String) -> Bool { template.hasPrefix("/api/v1/admin/") }

    /// What the rules say each cell must be.
    static func expected(_ template: String, _ principal: Principal) -> Outcome {
        if isPublic(template) { return .reached }
        if principal == .anonymous { return .unauthenticated }
        if isAdmin(template) { return principal == .admin ? .reached : .forbidden }
        if Fixture.namesOwnersThing(template) { return principal == .owner ? .reached : .notFoundAsUnknown }
        return .reached
    }

    func setUp(_ base: String) async throws -> (Fixture, [Principal: APIClient]) {
        let owner = TestEnvironment.unique("authz-b")
        let stranger = TestEnvironment.unique("authz-a")
        _ = try await pool.transaction {
            try Ledger.credit(owner, amount: 2_000_000, reference: .adminAdjustment, referenceId: "seed-\(owner)", description: "t", on: $0)
        }
        let clients: [Principal: APIClient] = [
            .anonymous: APIClient(base: base, token: nil),
            .stranger: APIClient(base: base, token: try await Tokens.make(customer: stranger)),
            .owner: APIClient(base: base, token: try await Tokens.make(customer: owner)),
            .admin: APIClient(base: base, token: try await Tokens.make(customer: TestEnvironment.unique("authz-admin"), role: "admin")),
        ]
        let b = clients[.owner]!
        let name = "Bee \(owner)"
        #expect(
            try await b.send("PUT", "/api/v1/me/contact", json: #"{"name":"\#(name)"}"#, idempotencyKey: UUID().uuidString).status == 202)
        let deposit = try await b.send(
            "POST", "/api/v1/wallet/deposits", json: #"{"amount": 150000, "method": "BRIVA"}"#, idempotencyKey: UUID().uuidString)
        let commandId = try #require(json(deposit)["commandId"] as? String)
        let depositId = try #require(json(deposit)["depositId"] as? String)
        let placed = try await b.send(
            "POST", "/api/v1/orders", json: #"{"planId":"\#(Self.basicPlan)","image":"ubuntu-24-04-x64","billingPeriod":"MONTHLY"}"#,
            idempotencyKey: UUID().uuidString)
        let orderId = try #require(json(placed)["orderId"] as? String, "\(json(placed))")
        #expect(try await b.awaitCommand(commandId)["status"] as? String == "succeeded")
        let active = await eventually(timeout: .seconds(60), every: .milliseconds(200)) {
            guard let order = try? await b.send("GET", "/api/v1/orders/\(orderId)") else { return false }
            return json(order)["status"] as? String == "ACTIVE"
        }
        #expect(active, "B's order came up")
        let contact = await eventually {
            (try? await b.send("GET", "/api/v1/me/contact")).map { json($0)["name"] as? String == name } ?? false
        }
        #expect(contact)
        return (
            Fixture(
                owner: owner, stranger: stranger, orderId: orderId, depositId: depositId, commandId: commandId, ownerName: name),
            clients
        )
    }

    /// What B owns, as B reads it: nothing in it may change while the others try.
    func ownersState(_ b: APIClient, _ fixture: Fixture) async throws -> [String] {
        let order = json(try await b.send("GET", "/api/v1/orders/\(fixture.orderId)"))
        let deposit = json(try await b.send("GET", "/api/v1/wallet/deposits/\(fixture.depositId)"))
        let wallet = json(try await b.send("GET", "/api/v1/wallet"))
        let contact = json(try await b.send("GET", "/api/v1/me/contact"))
        return [
            "\(order["status"] ?? "-") \(order["dropletStatus"] ?? "-") \(order["autoRenew"] ?? "-") \(order["expiresAt"] ?? "-")",
            "\((order["actions"] as? [Any])?.count ?? -1) actions",
            "\(deposit["status"] ?? "-")", "\(wallet["balance"] ?? "-")", "\(contact["name"] ?? "-")",
        ]
    }

    @Test(
        "anonymous is 401 everywhere but the public routes; customers are 403 on admin routes; A and the admin get 404 for B's things exactly as for unknown ids and change nothing of B's; B reaches every route"
    )
    func matrix() async throws {
        let base = try await RunningSystem.shared.baseURL()
        let (fixture, clients) = try await setUp(base)
        let routes = IngressRoutes.table.filter { $0.template != "/api/v1/webhooks/tripay" }
            .flatMap { route in route.methods.map { (method: $0, template: route.template) } }
        let before = try await ownersState(clients[.owner]!, fixture)

        var failures: [String] = []
        var observed: [String] = []
        // B last, and B's deletes after everything else of B's, so every other principal probes
        // things that exist.
        let order = routes.filter { $0.method != "DELETE" } + routes.filter { $0.method == "DELETE" }
        for principal in [Principal.anonymous, .stranger, .admin, .owner] {
            let client = clients[principal]!
            for (method, template) in order {
                guard let path = fixture.path(template, as: principal) else {
                    failures.append("\(method) \(template): no fixture id for this route; classify it in AuthorizationMatrixTests")
                    continue
                }
                let key = method == "GET" ? nil : UUID().uuidString
                let response = try await client.send(method, path, json: Self.body(method, template, principal), idempotencyKey: key)
                var outcome: Outcome
                switch response.status {
                case 401: outcome = .unauthenticated
                case 403: outcome = .forbidden
                case 500...: outcome = .leak("\(response.status) \(String(decoding: response.body.prefix(200), as: UTF8.self))")
                case 404 where principal == .owner && Fixture.namesOwnersThing(template): outcome = .leak("B cannot reach its own")
                default: outcome = .reached
                }
                if Fixture.namesOwnersThing(template), principal == .stranger || principal == .admin, response.status != 401 {
                    // The same request for an id nobody has must read exactly the same.
                    let unknown = try await client.send(
                        method, fixture.path(template, as: principal, unknown: true)!, json: Self.body(method, template, principal),
                        idempotencyKey: key.map { _ in UUID().uuidString })
                    let (mine, theirs) = (
                        "\(response.status) \(errorCode(response) ?? "") \(json(response)["error"].flatMap { ($0 as? [String: Any])?["message"] } ?? "")",
                        "\(unknown.status) \(errorCode(unknown) ?? "") \(json(unknown)["error"].flatMap { ($0 as? [String: Any])?["message"] } ?? "")"
                    )
                    outcome =
                        response.status == 404 && mine == theirs
                        ? .notFoundAsUnknown : .leak("\(mine) for B's, \(theirs) for unknown")
                }
                // Lists and reads of one's own must show nothing of B's.
                if principal != .owner, response.status == 200 {
                    let text = String(decoding: response.body, as: UTF8.self)
                    for secret in [fixture.owner, fixture.orderId, fixture.depositId, fixture.commandId, fixture.ownerName]
                    where text.contains(secret) && template != "/api/v1/admin/ops" {
                        outcome = .leak("the body names B's \(secret)")
                    }
                }
                observed.append("\(principal.rawValue)\t\(method) \(path)\t\(response.status) \(errorCode(response) ?? "")\t\(outcome)")
                let expected = Self.expected(template, principal)
                if outcome != expected {
                    failures.append(
                        "\(method) \(template) as \(principal.rawValue): \(outcome), expected \(expected) (\(response.status) \(errorCode(response) ?? ""))"
                    )
                }
            }
            if principal == .admin {
                // Everyone but B has had every route: nothing of B's changed.
                let after = try await ownersState(clients[.owner]!, fixture)
                #expect(after == before, "B's order, deposit, balance and contact after A's and the admin's requests")
            }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")

        // The table Docs/reliability.md carries, regenerated here: the test fails when it is stale.
        let header =
            "| Route | " + Principal.allCases.map(\.rawValue).joined(separator: " | ") + " |\n|---|"
            + String(repeating: "---|", count: Principal.allCases.count)
        let rows = routes.map { method, template in
            "| `\(method) \(template)` | "
                + Principal.allCases.map { Self.expected(template, $0).description }.joined(separator: " | ") + " |"
        }
        let table = ([header] + rows).joined(separator: "\n")
        let artifacts = TestEnvironment.repositoryRoot.appendingPathComponent(".local/test-artifacts")
        try? FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        try table.write(to: artifacts.appendingPathComponent("authorization-matrix.md"), atomically: true, encoding: .utf8)
        // Every answer as it came, for a reader who wants the statuses behind the cells.
        try observed.joined(separator: "\n").write(
            to: artifacts.appendingPathComponent("authorization-observed.tsv"), atomically: true, encoding: .utf8)
        let document = try String(
            contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("Docs/reliability.md"), encoding: .utf8)
        let printed = document.components(separatedBy: "<!-- authz:begin -->").dropFirst().first?
            .components(separatedBy: "<!-- authz:end -->").first?.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(
            printed == table,
            "Docs/reliability.md's matrix is stale: copy .local/test-artifacts/authorization-matrix.md between its authz markers")
    }
}
