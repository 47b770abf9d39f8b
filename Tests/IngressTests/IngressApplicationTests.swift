import AMQP
import ArmadaTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Logging
import Messaging
import Postgres
import Prometheus
import Testing
import Tripay
import WalletContracts

@testable import Ingress

/// The ingress application, built by `buildApplication` and driven in process (no socket), with
/// a real pool and a real broker connection behind it.
enum InProcessIngress {
    static let secret = "in-process-ingress-test-secret-at-least-32-bytes"
    static let logger: Logger = {
        var logger = Logger(label: "test.ingress")
        logger.logLevel = .critical
        return logger
    }()

    /// - Parameters:
    ///   - amqpURL: an unreachable broker shows what a 202 promises without one.
    ///   - databaseURL: an unreachable database shows the 503.
    static func withApplication(
        amqpURL: String = TestEnvironment.amqpURL, databaseURL: String = TestEnvironment.databaseURL,
        tripayPreviousPrivateKey: String? = nil, protection: IngressProtection = IngressProtection(), setup: TestingSetup = .router,
        _ test: @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        var configuration = try AMQPConfiguration(url: amqpURL)
        configuration.connectionName = "ingress-in-process"
        let broker = BrokerClient(configuration: configuration, logger: logger)
        broker.start()
        if amqpURL == TestEnvironment.amqpURL { try await broker.waitUntilConnected() }
        let dependencies = IngressDependencies(
            pool: PostgresPool(connectionString: databaseURL, size: 2, applicationName: "ingress-in-process", logger: logger),
            broker: broker,
            registry: PrometheusCollectorRegistry(),
            tripayPrivateKey: "in-process-fake-tripay-key", tripayPreviousPrivateKey: tripayPreviousPrivateKey,
            tokens: try await TokenVerifier.make(secret: secret, publicKeyPEM: nil),
            depositPolicy: DepositPolicy(), protection: protection)
        let app = buildApplication(dependencies, port: 0, logger: logger)
        do {
            try await app.test(setup, test)
        } catch {
            await broker.close()
            throw error
        }
        await broker.close()
    }

    static func token(_ customer: String, role: String = "customer", expiresIn: TimeInterval = 600) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(claims(customer, role: role, expiresIn: expiresIn))
    }

    static func headers(_ token: String?, key: String? = nil, json: Bool = true) -> HTTPFields {
        var fields = HTTPFields()
        if let token { fields[.authorization] = "Bearer \(token)" }
        if let key { fields[HTTPField.Name("Idempotency-Key")!] = key }
        if json { fields[.contentType] = "application/json" }
        return fields
    }
}

/// The error body every failure answers with.
struct ErrorBody: Decodable {
    struct Detail: Decodable {
        var code: String
        var message: String
        var field: String?
    }
    var error: Detail
}

func errorBody(_ response: TestResponse) throws -> ErrorBody.Detail {
    try JSONDecoder().decode(ErrorBody.self, from: Data(buffer: response.body)).error
}

@Suite("Ingress in process: validation, authentication and the error shape")
struct IngressApplicationTests {
    @Test("no token, a malformed one, an expired one: 401 with MISSING_TOKEN, INVALID_TOKEN, TOKEN_EXPIRED")
    func authentication() async throws {
        let expired = try await InProcessIngress.token("cust-auth", expiresIn: -60)
        try await InProcessIngress.withApplication { client in
            for (token, code) in [(nil, "MISSING_TOKEN"), ("not.a.jwt", "INVALID_TOKEN"), (expired, "TOKEN_EXPIRED")] as [(String?, String)]
            {
                try await client.execute(uri: "/api/v1/wallet", method: .get, headers: InProcessIngress.headers(token)) { response in
                    #expect(response.status == .unauthorized)
                    let error = try errorBody(response)
                    #expect(error.code == code)
                }
            }
        }
    }

    @Test("Tripay key rotation: a callback signed with the previous private key passes the signature check, another key does not")
    func tripayPreviousKey() async throws {
        // An incomplete payload: past the signature check it is refused as malformed (400), before
        // it 401; and the broker is unreachable, so nothing could reach a queue either way.
        let body = Array(#"{"reference":"T0001ROTATE","merchant_ref":"DEP-X","status":"PAID"}"#.utf8)
        try await InProcessIngress.withApplication(
            amqpURL: "amqp://guest:guest@127.0.0.1:1/%2f", tripayPreviousPrivateKey: "in-process-fake-previous-key"
        ) { client in
            for (key, code) in [
                ("in-process-fake-tripay-key", "MALFORMED_CALLBACK"), ("in-process-fake-previous-key", "MALFORMED_CALLBACK"),
                ("in-process-fake-other-key", "INVALID_SIGNATURE"),
            ] {
                var headers = HTTPFields()
                headers[HTTPField.Name("X-Callback-Event")!] = "payment_status"
                headers[HTTPField.Name("X-Callback-Signature")!] = TripaySignature.callback(body: body, privateKey: key)
                headers[.contentType] = "application/json"
                try await client.execute(uri: "/api/v1/webhooks/tripay", method: .post, headers: headers, body: ByteBuffer(bytes: body)) {
                    response in
                    let error = try errorBody(response)
                    #expect(error.code == code, "signed with \(key)")
                }
            }
        }
    }

    @Test("admin routes are 403 FORBIDDEN for a customer")
    func adminForbidden() async throws {
        let token = try await InProcessIngress.token("cust-admin-check")
        try await InProcessIngress.withApplication { client in
            try await client.execute(uri: "/api/v1/admin/promos", method: .get, headers: InProcessIngress.headers(token)) { response in
                #expect(response.status == .forbidden)
                let error = try errorBody(response)
                #expect(error.code == "FORBIDDEN")
            }
        }
    }

    @Test("a deposit outside the limits, an unknown field, a bad JSON body: 4xx naming the code and the field")
    func validation() async throws {
        let token = try await InProcessIngress.token(TestEnvironment.unique("cust"))
        try await InProcessIngress.withApplication { client in
            let cases: [(body: String, status: HTTPResponse.Status, code: String, field: String?)] = [
                (#"{"amount": 5000, "method": "BRIVA"}"#, .unprocessableContent, "VALUE_OUT_OF_RANGE", "amount"),
                (#"{"amount": 50000, "method": "BRIVA", "color": "red"}"#, .unprocessableContent, "UNKNOWN_FIELD", "color"),
                (#"{"amount": "lots", "method": "BRIVA"}"#, .unprocessableContent, "VALIDATION_FAILED", "amount"),
                (#"{"amount": 50000}"#, .unprocessableContent, "VALIDATION_FAILED", "method"),
                (#"{"amount": 50000, "method": "bri va"}"#, .unprocessableContent, "VALIDATION_FAILED", "method"),
                ("{not json", .badRequest, "INVALID_JSON", nil),
            ]
            for item in cases {
                try await client.execute(
                    uri: "/api/v1/wallet/deposits", method: .post, headers: InProcessIngress.headers(token, key: UUID().uuidString),
                    body: ByteBuffer(string: item.body)
                ) { response in
                    #expect(response.status == item.status, "\(item.body)")
                    let error = try errorBody(response)
                    #expect(error.code == item.code, "\(item.body)")
                    #expect(error.field == item.field, "\(item.body)")
                    #expect(!error.message.isEmpty)
                }
            }
        }
    }

    @Test("a command without an Idempotency-Key is 400; a body that is not JSON is 415")
    func commandPreconditions() async throws {
        let token = try await InProcessIngress.token(TestEnvironment.unique("cust"))
        try await InProcessIngress.withApplication { client in
            try await client.execute(
                uri: "/api/v1/wallet/deposits", method: .post, headers: InProcessIngress.headers(token),
                body: ByteBuffer(string: #"{"amount": 50000, "method": "BRIVA"}"#)
            ) { response in
                #expect(response.status == .badRequest)
                let error = try errorBody(response)
                #expect(error.code == "IDEMPOTENCY_KEY_REQUIRED")
            }
            try await client.execute(
                uri: "/api/v1/wallet/deposits", method: .post, headers: InProcessIngress.headers(token, key: "k", json: false),
                body: ByteBuffer(string: "amount=50000")
            ) { response in
                #expect(response.status == .unsupportedMediaType)
                let error = try errorBody(response)
                #expect(error.code == "UNSUPPORTED_MEDIA_TYPE")
            }
        }
    }

    @Test("unknown routes, wrong methods and another customer's deposit answer in the same JSON shape")
    func notFoundShape() async throws {
        let token = try await InProcessIngress.token(TestEnvironment.unique("cust"))
        try await InProcessIngress.withApplication { client in
            try await client.execute(uri: "/api/v1/nothing-here", method: .get, headers: InProcessIngress.headers(token)) { response in
                #expect(response.status == .notFound)
                let error = try errorBody(response)
                #expect(error.code == "NOT_FOUND")
            }
            try await client.execute(
                uri: "/api/v1/wallet/deposits/\(UUID().uuidString.lowercased())", method: .get, headers: InProcessIngress.headers(token)
            ) { response in
                #expect(response.status == .notFound)
                let error = try errorBody(response)
                #expect(error.code == "DEPOSIT_NOT_FOUND")
            }
            try await client.execute(uri: "/api/v1/wallet", method: .delete, headers: InProcessIngress.headers(token)) { response in
                #expect(response.status == .methodNotAllowed || response.status == .notFound)
                let error = try errorBody(response)
                #expect(!error.code.isEmpty)
            }
        }
    }

    @Test("a new customer's wallet reads 0 IDR; a contact update is accepted with 202 and a command id")
    func readsAndAccepts() async throws {
        let customer = TestEnvironment.unique("cust")
        let token = try await InProcessIngress.token(customer)
        try await InProcessIngress.withApplication { client in
            try await client.execute(uri: "/api/v1/wallet", method: .get, headers: InProcessIngress.headers(token)) { response in
                #expect(response.status == .ok)
                let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect(body?["balance"] as? Int == 0)
                #expect(body?["currency"] as? String == "IDR")
            }
            let key = UUID().uuidString
            var first: String?
            for _ in 0..<2 {
                try await client.execute(
                    uri: "/api/v1/me/contact", method: .put, headers: InProcessIngress.headers(token, key: key),
                    body: ByteBuffer(string: #"{"email": "a@example.test", "locale": "en"}"#)
                ) { response in
                    #expect(response.status == .accepted)
                    let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                    let id = body?["commandId"] as? String
                    #expect(id != nil)
                    if let first { #expect(id == first, "a retried request gets the same command id") }
                    first = id
                }
            }
        }
    }

    @Test("a command accepted while the broker is unreachable is still a promise: recorded with its message, a relay publishes it")
    func acceptedWithoutBroker() async throws {
        let customer = TestEnvironment.unique("cust")
        let token = try await InProcessIngress.token(customer)
        let commandId = Shared<String?>(nil)
        try await InProcessIngress.withApplication(amqpURL: "amqp://guest:guest@127.0.0.1:1/%2f") { client in
            try await client.execute(
                uri: "/api/v1/me/contact", method: .put, headers: InProcessIngress.headers(token, key: UUID().uuidString),
                body: ByteBuffer(string: #"{"email": "promise@example.test"}"#)
            ) { response in
                #expect(response.status == .accepted)
                let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                commandId.update { $0 = body?["commandId"] as? String }
            }
        }
        let id = try #require(commandId.value.flatMap(UUID.init(uuidString:)))
        let pool = TestDatabase.pool(size: 1, name: "ingress-promise")
        // Recorded with its message (any relay sharing this database may already have sent it).
        #expect(try await pool.withConnection { try Outbox.isPublished(messageId: id, on: $0) } != nil)
        // A relay with a broker publishes it (any worker's relay would).
        var configuration = try AMQPConfiguration(url: TestEnvironment.amqpURL)
        configuration.connectionName = "ingress-promise-relay"
        let broker = BrokerClient(configuration: configuration, logger: InProcessIngress.logger)
        broker.start()
        try await broker.waitUntilConnected()
        await OutboxRelay(pool: pool, broker: broker, logger: InProcessIngress.logger).publishPending()
        let published = await eventually { (try? await pool.withConnection { try Outbox.isPublished(messageId: id, on: $0) }) == true }
        #expect(published)
        await broker.close()
    }

    @Test("with the database unreachable a read answers 503 JSON with Retry-After, never a bare 500")
    func databaseDown() async throws {
        let token = try await InProcessIngress.token(TestEnvironment.unique("cust"))
        try await InProcessIngress.withApplication(databaseURL: "postgresql://armada@127.0.0.1:1/armada?connect_timeout=2") { client in
            try await client.execute(uri: "/api/v1/wallet", method: .get, headers: InProcessIngress.headers(token)) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "5")
                let error = try errorBody(response)
                #expect(error.code == "SERVICE_UNAVAILABLE")
            }
        }
    }
}
