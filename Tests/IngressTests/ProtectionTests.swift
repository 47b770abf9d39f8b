import ArmadaTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Messaging
import Testing
import Tripay

@testable import Ingress

/// Rate limits, the Tripay callback allow-list and hostile request bodies, against the ingress
/// listening on a real socket (the limits key on the peer's address).
@Suite("Ingress protection: rate limits, callback sources, hostile bodies")
struct ProtectionTests {
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    @Test(
        "per address: the 6th request in a window of 5 is 429 RATE_LIMITED with Retry-After; health and the Tripay callback are not limited"
    )
    func perAddress() async throws {
        let token = try await InProcessIngress.token("cust-rate-ip")
        try await InProcessIngress.withApplication(
            protection: IngressProtection(perAddress: RateLimit(requests: 5, seconds: 60)), setup: .live
        ) { client in
            for _ in 1...5 {
                try await client.execute(uri: "/api/v1/plans", method: .get, headers: InProcessIngress.headers(token)) { response in
                    #expect(response.status != .tooManyRequests)
                }
            }
            try await client.execute(uri: "/api/v1/plans", method: .get, headers: InProcessIngress.headers(token)) { response in
                #expect(response.status == .tooManyRequests)
                #expect((try? errorBody(response))?.code == "RATE_LIMITED")
                let retryAfter = try #require(response.headers[.retryAfter].flatMap { Int($0) })
                #expect((1...12).contains(retryAfter), "one request comes back every 12 s: \(retryAfter)")
            }
            // Anonymous requests from the same address share its bucket.
            try await client.execute(uri: "/api/v1/wallet", method: .get) { response in
                #expect(response.status == .tooManyRequests)
            }
            try await client.execute(uri: "/health", method: .get) { response in #expect(response.status == .ok) }
            // The callback is past the limiter: it reaches the signature check.
            var headers = HTTPFields()
            headers[HTTPField.Name("X-Callback-Event")!] = "payment_status"
            try await client.execute(uri: "/api/v1/webhooks/tripay", method: .post, headers: headers, body: ByteBuffer(string: "{}")) {
                response in
                #expect((try? errorBody(response))?.code == "MISSING_SIGNATURE")
            }
        }
    }

    @Test("per customer: one customer over the limit is refused while another on the same address is served")
    func perCustomer() async throws {
        let (greedy, patient) = (
            try await InProcessIngress.token("cust-rate-greedy"), try await InProcessIngress.token("cust-rate-patient")
        )
        try await InProcessIngress.withApplication(
            protection: IngressProtection(perCustomer: RateLimit(requests: 3, seconds: 60)), setup: .live
        ) { client in
            var statuses: [HTTPResponse.Status] = []
            for _ in 1...6 {
                try await client.execute(uri: "/api/v1/wallet", method: .get, headers: InProcessIngress.headers(greedy)) { response in
                    statuses.append(response.status)
                    if response.status == .tooManyRequests {
                        #expect((try? errorBody(response))?.message.contains("this account") == true)
                        #expect(response.headers[.retryAfter] != nil)
                    }
                }
            }
            #expect(statuses == [.ok, .ok, .ok, .tooManyRequests, .tooManyRequests, .tooManyRequests], "\(statuses)")
            for _ in 1...3 {
                try await client.execute(uri: "/api/v1/wallet", method: .get, headers: InProcessIngress.headers(patient)) { response in
                    #expect(response.status == .ok)
                }
            }
        }
    }

    @Test("X-Forwarded-For counts only behind a trusted proxy; a client cannot pick its own address")
    func forwardedFor() async throws {
        let trusted = IngressProtection(
            perAddress: RateLimit(requests: 2, seconds: 60), addressing: ClientAddressing(trustedProxies: [IPNetwork("127.0.0.0/8")!]))
        try await InProcessIngress.withApplication(protection: trusted, setup: .live) { client in
            // Behind our proxy: each forwarded client has a bucket of its own.
            for address in ["203.0.113.5", "203.0.113.6"] {
                for expected in [HTTPResponse.Status.unauthorized, .unauthorized, .tooManyRequests] {
                    try await client.execute(uri: "/api/v1/wallet", method: .get, headers: [Self.forwardedFor: address]) { response in
                        #expect(response.status == expected, "\(address)")
                    }
                }
            }
            // A client that writes its own X-Forwarded-For before our proxy appends the real one is
            // limited by the real one (the rightmost untrusted).
            try await client.execute(uri: "/api/v1/wallet", method: .get, headers: [Self.forwardedFor: "198.51.100.1, 203.0.113.5"]) {
                response in
                #expect(response.status == .tooManyRequests)
            }
        }
        // Not behind a trusted proxy: the header is ignored, every request counts against the peer.
        try await InProcessIngress.withApplication(
            protection: IngressProtection(perAddress: RateLimit(requests: 2, seconds: 60)), setup: .live
        ) {
            client in
            var statuses: [HTTPResponse.Status] = []
            for address in ["203.0.113.7", "203.0.113.8", "203.0.113.9"] {
                try await client.execute(uri: "/api/v1/wallet", method: .get, headers: [Self.forwardedFor: address]) { response in
                    statuses.append(response.status)
                }
            }
            #expect(statuses == [.unauthorized, .unauthorized, .tooManyRequests], "\(statuses)")
        }
    }

    @Test("Tripay callbacks from outside TRIPAY_CALLBACK_ALLOWED_IPS are 403 before any signature check; from inside they are checked")
    func callbackSources() async throws {
        let body = Array(#"{"reference":"T0001SRC","merchant_ref":"DEP-X","status":"PAID"}"#.utf8)
        let headers: HTTPFields = [
            HTTPField.Name("X-Callback-Event")!: "payment_status",
            HTTPField.Name("X-Callback-Signature")!: TripaySignature.callback(body: body, privateKey: "in-process-fake-tripay-key"),
            .contentType: "application/json",
        ]
        let tripayOnly = IngressProtection(tripaySources: [
            IPNetwork("95.111.200.230")!, IPNetwork("2a04:3543:1000:2310:ac92:4cff:fe87:63f9")!,
        ])
        try await InProcessIngress.withApplication(amqpURL: "amqp://guest:guest@127.0.0.1:1/%2f", protection: tripayOnly, setup: .live) {
            client in
            try await client.execute(uri: "/api/v1/webhooks/tripay", method: .post, headers: headers, body: ByteBuffer(bytes: body)) {
                response in
                #expect(response.status == .forbidden)
                #expect((try? errorBody(response))?.code == "CALLBACK_SOURCE_NOT_ALLOWED")
            }
            // Paths the router matches to the same route meet the same check.
            for variant in ["//api/v1/webhooks/tripay", "/api/v1/webhooks/tripay/", "/api//v1/webhooks//tripay"] {
                try await client.execute(uri: variant, method: .post, headers: headers, body: ByteBuffer(bytes: body)) { response in
                    #expect(response.status == .forbidden || response.status == .notFound, "\(variant): \(response.status)")
                }
            }
            // The allow-list guards the callback only.
            try await client.execute(uri: "/health", method: .get) { response in #expect(response.status == .ok) }
        }
        let loopback = IngressProtection(tripaySources: [IPNetwork("127.0.0.1")!])
        try await InProcessIngress.withApplication(amqpURL: "amqp://guest:guest@127.0.0.1:1/%2f", protection: loopback, setup: .live) {
            client in
            try await client.execute(uri: "/api/v1/webhooks/tripay", method: .post, headers: headers, body: ByteBuffer(bytes: body)) {
                response in
                #expect((try? errorBody(response))?.code == "MALFORMED_CALLBACK", "past the source check, the signature verified")
            }
        }
    }

    @Test("networks: IPv4 and IPv6 CIDRs, IPv4-mapped addresses, bad entries refused at start")
    func networks() throws {
        let ten = try #require(IPNetwork("10.0.0.0/8"))
        #expect(ten.contains("10.200.3.4") && !ten.contains("11.0.0.1") && ten.contains("::ffff:10.1.2.3"))
        #expect(!ten.contains("not-an-address") && !ten.contains("::1"))
        let tripay = try #require(IPNetwork("2a04:3543:1000:2310::/64"))
        #expect(tripay.contains("2a04:3543:1000:2310:ac92:4cff:fe87:63f9") && !tripay.contains("2a04:3543:1000:2311::1"))
        #expect(IPNetwork("95.111.200.230")!.contains("95.111.200.230") && !IPNetwork("95.111.200.230")!.contains("95.111.200.231"))
        #expect(IPNetwork("10.0.0.0/33") == nil && IPNetwork("example.com") == nil && IPNetwork("") == nil)
        #expect(throws: (any Error).self) {
            try IngressProtection(EnvironmentReader(["TRIPAY_CALLBACK_ALLOWED_IPS": "95.111.200.230,bogus"]))
        }
        #expect(throws: (any Error).self) { try IngressProtection(EnvironmentReader(["ARMADA_RATE_LIMIT_PER_IP": "many"])) }
        let defaults = try IngressProtection(EnvironmentReader([:]))
        #expect(defaults.perAddress == IngressProtection.defaultPerAddress && defaults.perCustomer == IngressProtection.defaultPerCustomer)
        #expect(defaults.tripaySources == nil)
        // IPv6 clients are limited by their /64.
        #expect(RateLimitMiddleware.bucketKey("2001:db8:1:2::1") == RateLimitMiddleware.bucketKey("2001:db8:1:2:ffff::9"))
        #expect(RateLimitMiddleware.bucketKey("2001:db8:1:2::1") != RateLimitMiddleware.bucketKey("2001:db8:1:3::1"))
        #expect(RateLimitMiddleware.bucketKey("203.0.113.5") == "203.0.113.5")
        let off = try IngressProtection(EnvironmentReader(["ARMADA_RATE_LIMIT_PER_IP": "off", "ARMADA_RATE_LIMIT_PER_CUSTOMER": "30/1"]))
        #expect(off.perAddress == nil && off.perCustomer == RateLimit(requests: 30, seconds: 1))
    }

    @Test("hostile bodies: oversized, deeply nested, invalid UTF-8, huge and negative numbers, NUL: each a 4xx in the error shape")
    func hostileBodies() async throws {
        let token = try await InProcessIngress.token("cust-hostile")
        let headers = InProcessIngress.headers(token, key: UUID().uuidString)
        let deposit = "/api/v1/wallet/deposits"
        let cases: [(name: String, uri: String, method: HTTPRequest.Method, body: [UInt8], status: HTTPResponse.Status, code: String)] = [
            (
                "oversized", deposit, .post,
                Array(#"{"amount":1,"method":""#.utf8) + Array(repeating: UInt8(ascii: "A"), count: 64 * 1024) + Array(#""}"#.utf8),
                .contentTooLarge, "PAYLOAD_TOO_LARGE"
            ),
            (
                "nested arrays", deposit, .post,
                Array(repeating: UInt8(ascii: "["), count: 10_000) + Array(repeating: UInt8(ascii: "]"), count: 10_000), .contentTooLarge,
                "PAYLOAD_TOO_LARGE"
            ),
            (
                "nested 5000 deep", deposit, .post,
                Array(repeating: UInt8(ascii: "["), count: 5_000) + Array(repeating: UInt8(ascii: "]"), count: 5_000), .badRequest,
                "INVALID_JSON"
            ),
            (
                "nested objects", deposit, .post,
                Array(String(repeating: #"{"a":"#, count: 2_000).utf8) + [UInt8(ascii: "1")]
                    + Array(repeating: UInt8(ascii: "}"), count: 2_000), .badRequest, "INVALID_JSON"
            ),
            (
                "invalid UTF-8", deposit, .post, Array(#"{"amount":50000,"method":""#.utf8) + [0xC3, 0x28, 0xFF] + Array(#""}"#.utf8),
                .badRequest, "INVALID_JSON"
            ),
            ("huge number", deposit, .post, Array(#"{"amount":1e400,"method":"BRIVA"}"#.utf8), .badRequest, "INVALID_JSON"),
            (
                "past Int64", deposit, .post, Array(#"{"amount":99999999999999999999999,"method":"BRIVA"}"#.utf8), .unprocessableContent,
                "VALUE_OUT_OF_RANGE"
            ),
            ("negative", deposit, .post, Array(#"{"amount":-50000,"method":"BRIVA"}"#.utf8), .unprocessableContent, "VALUE_OUT_OF_RANGE"),
            ("fraction", deposit, .post, Array(#"{"amount":50000.5,"method":"BRIVA"}"#.utf8), .unprocessableContent, "VALIDATION_FAILED"),
            (
                "NUL in a name", "/api/v1/me/contact", .put, Array(#"{"name":"Ani\u0000admin"}"#.utf8), .unprocessableContent,
                "VALIDATION_FAILED"
            ),
            (
                "NUL in a promo code", "/api/v1/promos/validate", .post, Array(#"{"code":"WELCOME\u0000"}"#.utf8), .unprocessableContent,
                "VALIDATION_FAILED"
            ),
            (
                "duplicate keys, one unknown", deposit, .post, Array(#"{"amount":50000,"amount":1,"__proto__":{}}"#.utf8),
                .unprocessableContent, "UNKNOWN_FIELD"
            ),
        ]
        let admin = try await InProcessIngress.token("admin-hostile", role: "admin")
        try await InProcessIngress.withApplication { client in
            // A customer id in a path that no wallet can have.
            for customer in ["%00", "a%0Ab", String(repeating: "x", count: 201)] {
                try await client.execute(
                    uri: "/api/v1/admin/wallets/\(customer)/adjustments", method: .post,
                    headers: InProcessIngress.headers(admin, key: UUID().uuidString),
                    body: ByteBuffer(string: #"{"amount":1000,"description":"hostile"}"#)
                ) { response in
                    #expect(response.status == .unprocessableContent, "\(customer): \(String(buffer: response.body))")
                }
            }
            for hostile in cases {
                try await client.execute(uri: hostile.uri, method: hostile.method, headers: headers, body: ByteBuffer(bytes: hostile.body))
                {
                    response in
                    #expect(
                        response.status == hostile.status,
                        "\(hostile.name): \(response.status) \(String(buffer: response.body).prefix(200))")
                    #expect(
                        (try? errorBody(response).code) == hostile.code, "\(hostile.name): \(String(buffer: response.body).prefix(200))")
                }
            }
            // Hostile path segments and query values: 4xx, never a 500.
            for uri in [
                "/api/v1/wallet/deposits/%00", "/api/v1/wallet/deposits/'%20OR%201=1--", "/api/v1/orders/%F0%28%8C%28",
                "/api/v1/admin/wallets/%00/adjustments", "/api/v1/wallet/transactions?limit=99999999999999999999",
                "/api/v1/wallet/transactions?cursor=%00", "/api/v1/notifications?limit=-1", "/api/v1/orders?cursor=%00",
            ] {
                try await client.execute(uri: uri, method: .get, headers: headers) { response in
                    #expect((400..<500).contains(response.status.code), "\(uri): \(response.status)")
                    #expect((try? errorBody(response)) != nil, "\(uri): \(String(buffer: response.body).prefix(200))")
                }
            }
        }
    }
}
