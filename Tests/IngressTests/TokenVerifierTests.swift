import ArmadaTestSupport
import Foundation
import JWTKit
import Messaging
import Testing

@testable import Ingress

struct TestClaims: JWTPayload {
    var sub: SubjectClaim
    var role: String
    var exp: ExpirationClaim
    var iss: IssuerClaim?
    var aud: AudienceClaim?
    func verify(using algorithm: some JWTAlgorithm) throws {}
}

func claims(
    _ customer: String = "cust-1", role: String = "customer", expiresIn: TimeInterval = 600, issuer: String? = nil,
    audience: String? = nil
) -> TestClaims {
    TestClaims(
        sub: .init(value: customer), role: role, exp: .init(value: Date().addingTimeInterval(expiresIn)),
        iss: issuer.map { .init(value: $0) },
        aud: audience.map { .init(value: [$0]) })
}

func rejection(_ verifier: TokenVerifier, _ token: String) async -> String? {
    do {
        _ = try await verifier.verify(token)
        return nil
    } catch let error as APIError {
        return error.code.rawValue
    } catch {
        return "\(error)"
    }
}

@Suite("JWT verification: HS256, RS256, ES256")
struct TokenVerifierTests {
    @Test("an ES256 token verifies with the PEM public key; one signed by another key does not")
    func es256() async throws {
        let key = ES256PrivateKey()
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: key)
        let verifier = try await TokenVerifier.make(secret: nil, publicKeyPEM: key.publicKey.pemRepresentation)
        let identity = try await verifier.verify(try await signer.sign(claims("cust-es", role: "admin")))
        #expect(identity == Identity(customerId: "cust-es", role: .admin))

        let other = JWTKeyCollection()
        await other.add(ecdsa: ES256PrivateKey())
        #expect(await rejection(verifier, try await other.sign(claims())) == "INVALID_TOKEN")
    }

    @Test("an RS256 token verifies with the PEM public key")
    func rs256() async throws {
        let directory = NSTemporaryDirectory() + "armada-rsa-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (status, output) = try await ChildProcess.run(
            "/usr/bin/openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", directory + "/key.pem"])
        #expect(status == 0, "\(output)")
        _ = try await ChildProcess.run(
            "/usr/bin/openssl", ["pkey", "-in", directory + "/key.pem", "-pubout", "-out", directory + "/pub.pem"])
        let privatePEM = try String(contentsOfFile: directory + "/key.pem", encoding: .utf8)
        let publicPEM = try String(contentsOfFile: directory + "/pub.pem", encoding: .utf8)
        let signer = JWTKeyCollection()
        await signer.add(rsa: try Insecure.RSA.PrivateKey(pem: privatePEM), digestAlgorithm: .sha256)
        let verifier = try await TokenVerifier.make(secret: nil, publicKeyPEM: publicPEM)
        #expect(try await verifier.verify(try await signer.sign(claims("cust-rs"))) == Identity(customerId: "cust-rs", role: .customer))
    }

    @Test("key rotation: tokens of the previous secret or public key verify alongside the new ones; without them they do not")
    func rotation() async throws {
        let (old, new) = (String(repeating: "o", count: 40), String(repeating: "n", count: 40))
        func signer(_ secret: String) async -> JWTKeyCollection {
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            return keys
        }
        let (oldKey, newKey) = (ES256PrivateKey(), ES256PrivateKey())
        let oldPublic = JWTKeyCollection()
        await oldPublic.add(ecdsa: oldKey)
        let newPublic = JWTKeyCollection()
        await newPublic.add(ecdsa: newKey)

        let rotating = try await TokenVerifier.make(
            secret: new, publicKeyPEM: newKey.publicKey.pemRepresentation, previousSecret: old,
            previousPublicKeyPEM: oldKey.publicKey.pemRepresentation)
        #expect(try await rotating.verify(try await signer(old).sign(claims("old-hs"))).customerId == "old-hs")
        #expect(try await rotating.verify(try await signer(new).sign(claims("new-hs"))).customerId == "new-hs")
        #expect(try await rotating.verify(try await oldPublic.sign(claims("old-es"))).customerId == "old-es")
        #expect(try await rotating.verify(try await newPublic.sign(claims("new-es"))).customerId == "new-es")
        #expect(await rejection(rotating, try await signer(old).sign(claims(expiresIn: -5))) == "TOKEN_EXPIRED")
        #expect(await rejection(rotating, try await signer(String(repeating: "x", count: 40)).sign(claims())) == "INVALID_TOKEN")

        let rotated = try await TokenVerifier.make(secret: new, publicKeyPEM: newKey.publicKey.pemRepresentation)
        #expect(await rejection(rotated, try await signer(old).sign(claims())) == "INVALID_TOKEN")
        #expect(await rejection(rotated, try await oldPublic.sign(claims())) == "INVALID_TOKEN")
        // A previous key alone is no configuration.
        await #expect(throws: TokenVerifierError.self) { try await TokenVerifier.make(secret: nil, publicKeyPEM: nil, previousSecret: old) }
    }

    @Test("algorithm confusion: an HS256 token keyed with a configured public key's PEM text is refused, previous keys included")
    func algorithmConfusion() async throws {
        let (current, previous) = (ES256PrivateKey(), ES256PrivateKey())
        let verifier = try await TokenVerifier.make(
            secret: nil, publicKeyPEM: current.publicKey.pemRepresentation, previousPublicKeyPEM: previous.publicKey.pemRepresentation)
        for pem in [current.publicKey.pemRepresentation, previous.publicKey.pemRepresentation] {
            let forger = JWTKeyCollection()
            await forger.add(hmac: HMACKey(from: pem), digestAlgorithm: .sha256)
            #expect(await rejection(verifier, try await forger.sign(claims("mallory", role: "admin"))) == "INVALID_TOKEN")
        }
    }

    @Test("a PEM given on one line with \\n escapes (env files, Kubernetes secrets) is the same key")
    func escapedPEM() async throws {
        let key = ES256PrivateKey()
        let escaped = key.publicKey.pemRepresentation.replacingOccurrences(of: "\n", with: "\\n")
        #expect(!escaped.contains("\n"))
        #expect(IngressSettings.pem(escaped) == key.publicKey.pemRepresentation)
        let settings = try IngressSettings(EnvironmentReader(["TRIPAY_PRIVATE_KEY": "fake", "ARMADA_JWT_PUBLIC_KEY": escaped]))
        let verifier = try await TokenVerifier.make(secret: nil, publicKeyPEM: settings.jwtPublicKeyPEM)
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: key)
        #expect(try await verifier.verify(try await signer.sign(claims("pem-escaped"))).customerId == "pem-escaped")
    }

    /// A signer and a verifier sharing one HS256 secret.
    static func hs256Pair() async throws -> (JWTKeyCollection, TokenVerifier) {
        let secret = String(repeating: "s", count: 40)
        let signer = JWTKeyCollection()
        await signer.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return (signer, try await TokenVerifier.make(secret: secret, publicKeyPEM: nil))
    }

    @Test("HS256: valid, expired, wrong role, wrong secret, not a JWT")
    func hs256() async throws {
        let (signer, verifier) = try await Self.hs256Pair()
        #expect(try await verifier.verify(try await signer.sign(claims())).customerId == "cust-1")
        #expect(await rejection(verifier, try await signer.sign(claims(expiresIn: -5))) == "TOKEN_EXPIRED")
        #expect(await rejection(verifier, try await signer.sign(claims(role: "root"))) == "INVALID_TOKEN")
        #expect(await rejection(verifier, try await signer.sign(claims(""))) == "INVALID_TOKEN")
        #expect(await rejection(verifier, "abc.def.ghi") == "INVALID_TOKEN")
        let other = JWTKeyCollection()
        await other.add(hmac: HMACKey(from: String(repeating: "t", count: 40)), digestAlgorithm: .sha256)
        #expect(await rejection(verifier, try await other.sign(claims())) == "INVALID_TOKEN")
    }

    /// Claims as an attacker writes them: any of them may be missing.
    struct LooseClaims: JWTPayload {
        var sub: String?
        var role: String?
        var exp: Int?
        var nbf: Int?
        func verify(using algorithm: some JWTAlgorithm) throws {}
    }

    @Test("JWT attacks: alg none, a payload edited to admin, not yet valid, missing claims, a NUL or oversized subject: all 401")
    func attacks() async throws {
        let (signer, verifier) = try await Self.hs256Pair()
        let now = Int(Date().timeIntervalSince1970)
        func base64URL(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let payload = base64URL(#"{"sub":"cust-none","role":"admin","exp":\#(now + 600)}"#)

        // alg none, with and without a signature part.
        for header in [#"{"alg":"none","typ":"JWT"}"#, #"{"alg":"None"}"#, #"{"typ":"JWT"}"#] {
            #expect(await rejection(verifier, "\(base64URL(header)).\(payload).") == "INVALID_TOKEN", "\(header)")
            #expect(await rejection(verifier, "\(base64URL(header)).\(payload)") == "INVALID_TOKEN", "\(header)")
        }
        // A customer's real token with its payload swapped for an admin one: the signature no longer matches.
        let customer = try await signer.sign(LooseClaims(sub: "cust-a", role: "customer", exp: now + 600))
        #expect(try await verifier.verify(customer).role == .customer)
        let parts = customer.split(separator: ".").map(String.init)
        #expect(await rejection(verifier, "\(parts[0]).\(payload).\(parts[2])") == "INVALID_TOKEN")
        // Not valid for another hour; a minute's skew is allowed.
        #expect(
            await rejection(verifier, try await signer.sign(LooseClaims(sub: "c", role: "customer", exp: now + 7200, nbf: now + 3600)))
                == "INVALID_TOKEN")
        #expect(
            try await verifier.verify(try await signer.sign(LooseClaims(sub: "c", role: "customer", exp: now + 600, nbf: now + 30)))
                .customerId == "c")
        // Missing claims, each one.
        for loose in [
            LooseClaims(sub: nil, role: "customer", exp: now + 600), LooseClaims(sub: "c", role: nil, exp: now + 600),
            LooseClaims(sub: "c", role: "customer", exp: nil),
        ] {
            #expect(await rejection(verifier, try await signer.sign(loose)) == "INVALID_TOKEN", "\(loose)")
        }
        // Subjects no customer id can be.
        for subject in ["cust\u{0}admin", String(repeating: "x", count: 201)] {
            #expect(
                await rejection(verifier, try await signer.sign(LooseClaims(sub: subject, role: "customer", exp: now + 600)))
                    == "INVALID_TOKEN")
        }
    }

    @Test("HS256 and ES256 configured together: each token verifies with the key of its own algorithm")
    func bothAlgorithms() async throws {
        let secret = String(repeating: "s", count: 40)
        let hmac = JWTKeyCollection()
        await hmac.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        let ecKey = ES256PrivateKey()
        let ec = JWTKeyCollection()
        await ec.add(ecdsa: ecKey)
        let verifier = try await TokenVerifier.make(secret: secret, publicKeyPEM: ecKey.publicKey.pemRepresentation)
        #expect(try await verifier.verify(try await hmac.sign(claims("by-hmac"))).customerId == "by-hmac")
        #expect(try await verifier.verify(try await ec.sign(claims("by-ec"))).customerId == "by-ec")
        let stranger = JWTKeyCollection()
        await stranger.add(ecdsa: ES256PrivateKey())
        #expect(await rejection(verifier, try await stranger.sign(claims())) == "INVALID_TOKEN")
    }

    @Test("issuer and audience, when configured, must match")
    func issuerAndAudience() async throws {
        let secret = String(repeating: "s", count: 40)
        let signer = JWTKeyCollection()
        await signer.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        let verifier = try await TokenVerifier.make(
            secret: secret, publicKeyPEM: nil, issuer: "https://id.armada.test", audience: "armada-api")
        let good = claims(issuer: "https://id.armada.test", audience: "armada-api")
        #expect(try await verifier.verify(try await signer.sign(good)).customerId == "cust-1")
        #expect(
            await rejection(verifier, try await signer.sign(claims(issuer: "https://evil.test", audience: "armada-api"))) == "INVALID_TOKEN"
        )
        #expect(
            await rejection(verifier, try await signer.sign(claims(issuer: "https://id.armada.test", audience: "other"))) == "INVALID_TOKEN"
        )
        #expect(await rejection(verifier, try await signer.sign(claims())) == "INVALID_TOKEN", "no iss, no aud")
        // Not configured: not required.
        let lenient = try await TokenVerifier.make(secret: secret, publicKeyPEM: nil)
        #expect(try await lenient.verify(try await signer.sign(claims())).customerId == "cust-1")
    }

    @Test("configuration: no key, or an HS256 secret under 32 bytes, is refused at start")
    func configuration() async throws {
        await #expect(throws: TokenVerifierError.self) { _ = try await TokenVerifier.make(secret: nil, publicKeyPEM: nil) }
        await #expect(throws: TokenVerifierError.self) { _ = try await TokenVerifier.make(secret: "short", publicKeyPEM: nil) }
    }
}
