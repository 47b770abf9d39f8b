import Foundation
import Hummingbird
import JWTKit

/// Who is calling: the `sub` claim of the frontend's JWT and its role.
public struct Identity: Sendable, Equatable {
    public enum Role: String, Sendable { case customer, admin }
    public var customerId: String
    public var role: Role
}

/// The request context of the ingress: Hummingbird's basics plus the verified identity.
public struct IngressContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Identity?
    /// The IP address of the connection's peer (nil in an in-process test).
    public let peerAddress: String?

    public init(source: Source) {
        coreContext = .init(source: source)
        identity = nil
        peerAddress = source.channel.remoteAddress?.ipAddress
    }

    /// The verified identity; routes behind `Authenticator` always have one.
    func requireIdentity() throws -> Identity {
        guard let identity else { throw APIError(.unauthorized, .missingToken, "Authorization: Bearer <JWT> is required") }
        return identity
    }

    func requireAdmin() throws -> Identity {
        let identity = try requireIdentity()
        guard identity.role == .admin else { throw APIError(.forbidden, .forbidden, "this route is for administrators") }
        return identity
    }
}

struct ArmadaClaims: JWTPayload {
    var sub: SubjectClaim
    var role: String
    var exp: ExpirationClaim
    var nbf: NotBeforeClaim?
    var iss: IssuerClaim?
    var aud: AudienceClaim?

    func verify(using algorithm: some JWTAlgorithm) throws {
        if exp.value < Date() { throw TokenExpired() }
        // A token dated in the future is not valid yet (a minute of clock skew is allowed).
        if let nbf, nbf.value > Date().addingTimeInterval(60) { throw TokenNotYetValid() }
    }
}

struct TokenExpired: Error {}
struct TokenNotYetValid: Error {}

/// The keys tokens are verified with: HS256 with `ARMADA_JWT_SECRET` and/or RS256/ES256 with the
/// PEM public key in `ARMADA_JWT_PUBLIC_KEY`. Both may be configured at once: a token is checked
/// against the key of the algorithm its header names. `ARMADA_JWT_ISSUER` and
/// `ARMADA_JWT_AUDIENCE`, when set, must match the token's `iss` and be among its `aud`.
public struct TokenVerifier: Sendable {
    /// Each key with the algorithm it verifies, current keys first; during a rotation the
    /// previous secret or public key (`ARMADA_JWT_SECRET_PREVIOUS`, `ARMADA_JWT_PUBLIC_KEY_PREVIOUS`)
    /// still verifies tokens signed before the switch.
    let keys: [(algorithm: String, keys: JWTKeyCollection)]
    let issuer: String?
    let audience: String?

    public static func make(
        secret: String?, publicKeyPEM: String?, issuer: String? = nil, audience: String? = nil, previousSecret: String? = nil,
        previousPublicKeyPEM: String? = nil
    ) async throws -> TokenVerifier {
        var keys: [(String, JWTKeyCollection)] = []
        for candidate in [secret, previousSecret] {
            guard let candidate, !candidate.isEmpty else { continue }
            // HS256 with a key shorter than the hash output is weak; jwt-kit asserts on it.
            guard candidate.utf8.count >= 32 else { throw TokenVerifierError.shortSecret }
            let collection = JWTKeyCollection()
            await collection.add(hmac: HMACKey(from: candidate), digestAlgorithm: .sha256)
            keys.append(("HS256", collection))
        }
        for pem in [publicKeyPEM, previousPublicKeyPEM] {
            guard let pem, !pem.isEmpty else { continue }
            let collection = JWTKeyCollection()
            if let key = try? ES256PublicKey(pem: pem) {
                await collection.add(ecdsa: key)
                keys.append(("ES256", collection))
            } else {
                await collection.add(rsa: try Insecure.RSA.PublicKey(pem: pem), digestAlgorithm: .sha256)
                keys.append(("RS256", collection))
            }
        }
        guard !keys.isEmpty, (secret?.isEmpty == false) || (publicKeyPEM?.isEmpty == false) else { throw TokenVerifierError.noKey }
        return TokenVerifier(keys: keys, issuer: issuer?.nilIfEmpty, audience: audience?.nilIfEmpty)
    }

    func verify(_ token: String) async throws -> Identity {
        let invalid = APIError(.unauthorized, .invalidToken, "the token is malformed or not signed by a trusted key")
        let algorithm = Self.algorithm(of: token)
        var verified: ArmadaClaims?
        // Only keys of the algorithm the header names: a token never picks its own verification
        // (an HS256 token "signed" with an RS256 public key finds no HMAC key made from it).
        for candidate in keys where candidate.algorithm == algorithm {
            do {
                verified = try await candidate.keys.verify(token, as: ArmadaClaims.self)
                break
            } catch is TokenExpired {
                throw APIError(.unauthorized, .tokenExpired, "the token has expired")
            } catch is TokenNotYetValid {
                throw APIError(.unauthorized, .invalidToken, "the token is not valid yet (nbf)")
            } catch {
                continue
            }
        }
        guard let claims = verified else { throw invalid }
        if let issuer, claims.iss?.value != issuer {
            throw APIError(.unauthorized, .invalidToken, "the token was not issued by the expected issuer")
        }
        if let audience, !(claims.aud?.value.contains(audience) ?? false) {
            throw APIError(.unauthorized, .invalidToken, "the token is not meant for this API (audience)")
        }
        // The subject keys every row of the customer's: no empty one, none with control characters
        // (NUL, which PostgreSQL text cannot hold, among them; the admin routes refuse them in a
        // customer id too), none longer than a customer id column is meant for.
        guard let role = Identity.Role(rawValue: claims.role), !claims.sub.value.isEmpty, claims.sub.value.unicodeScalars.count <= 200,
            !claims.sub.value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw APIError(.unauthorized, .invalidToken, "the token needs a sub (at most 200 characters) and a role of customer or admin")
        }
        return Identity(customerId: claims.sub.value, role: role)
    }

    /// The `alg` of a compact JWT's header; nil when it is not one.
    static func algorithm(of token: String) -> String? {
        guard let header = token.split(separator: ".", omittingEmptySubsequences: false).first else { return nil }
        var base64 = header.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return object["alg"] as? String
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}

public enum TokenVerifierError: Error, CustomStringConvertible {
    case noKey
    case shortSecret

    public var description: String {
        switch self {
        case .noKey: return "set ARMADA_JWT_SECRET (HS256) and/or ARMADA_JWT_PUBLIC_KEY (PEM, RS256 or ES256) to verify customer tokens"
        case .shortSecret: return "ARMADA_JWT_SECRET must be at least 32 bytes for HS256"
        }
    }
}

/// Verifies `Authorization: Bearer <JWT>` and puts the identity in the context.
struct Authenticator: RouterMiddleware {
    let verifier: TokenVerifier

    func handle(_ request: Request, context: IngressContext, next: (Request, IngressContext) async throws -> Response) async throws
        -> Response
    {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "), header.count > 7 else {
            throw APIError(.unauthorized, .missingToken, "Authorization: Bearer <JWT> is required")
        }
        var context = context
        context.identity = try await verifier.verify(String(header.dropFirst(7)))
        return try await next(request, context)
    }
}
