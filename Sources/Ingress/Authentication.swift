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

    public init(source: Source) {
        coreContext = .init(source: source)
        identity = nil
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

    func verify(using algorithm: some JWTAlgorithm) throws {
        if exp.value < Date() { throw TokenExpired() }
    }
}

struct TokenExpired: Error {}

/// The keys tokens are verified with: HS256 with `ARMADA_JWT_SECRET` and/or RS256/ES256 with the
/// PEM public key in `ARMADA_JWT_PUBLIC_KEY`.
public struct TokenVerifier: Sendable {
    let keys: JWTKeyCollection

    public static func make(secret: String?, publicKeyPEM: String?) async throws -> TokenVerifier {
        let keys = JWTKeyCollection()
        var any = false
        if let secret, !secret.isEmpty {
            // HS256 with a key shorter than the hash output is weak; jwt-kit asserts on it.
            guard secret.utf8.count >= 32 else { throw TokenVerifierError.shortSecret }
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            any = true
        }
        if let pem = publicKeyPEM, !pem.isEmpty {
            if let key = try? ES256PublicKey(pem: pem) {
                await keys.add(ecdsa: key)
            } else {
                await keys.add(rsa: try Insecure.RSA.PublicKey(pem: pem), digestAlgorithm: .sha256)
            }
            any = true
        }
        guard any else { throw TokenVerifierError.noKey }
        return TokenVerifier(keys: keys)
    }

    func verify(_ token: String) async throws -> Identity {
        let claims: ArmadaClaims
        do {
            claims = try await keys.verify(token, as: ArmadaClaims.self)
        } catch is TokenExpired {
            throw APIError(.unauthorized, .tokenExpired, "the token has expired")
        } catch {
            throw APIError(.unauthorized, .invalidToken, "the token is malformed or not signed by a trusted key")
        }
        guard let role = Identity.Role(rawValue: claims.role), !claims.sub.value.isEmpty else {
            throw APIError(.unauthorized, .invalidToken, "the token needs a sub and a role of customer or admin")
        }
        return Identity(customerId: claims.sub.value, role: role)
    }
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
