import ArmadaTestSupport
import Curl
import Foundation
import JWTKit

/// Mints tokens the way a frontend's auth service would.
enum Tokens {
    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var role: String
        var exp: ExpirationClaim
        func verify(using algorithm: some JWTAlgorithm) throws {}
    }

    static func make(customer: String, role: String = "customer", expiresIn: TimeInterval = 3600, secret: String = testJWTSecret)
        async throws -> String
    {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(Claims(sub: .init(value: customer), role: role, exp: .init(value: Date().addingTimeInterval(expiresIn))))
    }
}

/// A frontend talking to the running ingress.
struct APIClient {
    let base: String
    let token: String?

    func send(
        _ method: String, _ path: String, json: String? = nil, idempotencyKey: String? = nil, contentType: String = "application/json"
    ) async throws -> HTTPResponse {
        var headers: [(name: String, value: String)] = []
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        if let idempotencyKey { headers.append(("Idempotency-Key", idempotencyKey)) }
        if json != nil { headers.append(("Content-Type", contentType)) }
        return try await CurlClient().send(
            HTTPRequest(method: method, url: base + path, headers: headers, body: json.map { Array($0.utf8) }))
    }

    /// Polls `GET /commands/{id}` until it leaves `pending`.
    func awaitCommand(_ id: String) async throws -> [String: Any] {
        var last: [String: Any] = [:]
        _ = await eventually(timeout: .seconds(20), every: .milliseconds(100)) {
            guard let response = try? await send("GET", "/api/v1/commands/\(id)") else { return false }
            last = json(response)
            return (last["status"] as? String).map { $0 != "pending" } ?? false
        }
        return last
    }
}
