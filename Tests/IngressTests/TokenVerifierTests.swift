import ArmadaTestSupport
import Foundation
import JWTKit
import Testing

@testable import Ingress

struct TestClaims: JWTPayload {
    var sub: SubjectClaim
    var role: String
    var exp: ExpirationClaim
    func verify(using algorithm: some JWTAlgorithm) throws {}
}

func claims(_ customer: String = "cust-1", role: String = "customer", expiresIn: TimeInterval = 600) -> TestClaims {
    TestClaims(sub: .init(value: customer), role: role, exp: .init(value: Date().addingTimeInterval(expiresIn)))
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

    @Test("HS256: valid, expired, wrong role, wrong secret, not a JWT")
    func hs256() async throws {
        let secret = String(repeating: "s", count: 40)
        let signer = JWTKeyCollection()
        await signer.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        let verifier = try await TokenVerifier.make(secret: secret, publicKeyPEM: nil)
        #expect(try await verifier.verify(try await signer.sign(claims())).customerId == "cust-1")
        #expect(await rejection(verifier, try await signer.sign(claims(expiresIn: -5))) == "TOKEN_EXPIRED")
        #expect(await rejection(verifier, try await signer.sign(claims(role: "root"))) == "INVALID_TOKEN")
        #expect(await rejection(verifier, try await signer.sign(claims(""))) == "INVALID_TOKEN")
        #expect(await rejection(verifier, "abc.def.ghi") == "INVALID_TOKEN")
        let other = JWTKeyCollection()
        await other.add(hmac: HMACKey(from: String(repeating: "t", count: 40)), digestAlgorithm: .sha256)
        #expect(await rejection(verifier, try await other.sign(claims())) == "INVALID_TOKEN")
    }

    @Test("configuration: no key, or an HS256 secret under 32 bytes, is refused at start")
    func configuration() async throws {
        await #expect(throws: TokenVerifierError.self) { _ = try await TokenVerifier.make(secret: nil, publicKeyPEM: nil) }
        await #expect(throws: TokenVerifierError.self) { _ = try await TokenVerifier.make(secret: "short", publicKeyPEM: nil) }
    }
}
