import Foundation
import Hummingbird
import Messaging
import Metrics
import Synchronization

/// How many requests a client may make: `requests` at once, refilled evenly over `seconds`
/// (a token bucket). Written `600/60` in the environment; `off` disables the limit.
public struct RateLimit: Sendable, Equatable, CustomStringConvertible {
    public var requests: Int
    public var seconds: Int

    public init(requests: Int, seconds: Int) {
        self.requests = requests
        self.seconds = seconds
    }

    public var description: String { "\(requests)/\(seconds)" }

    /// nil for `off`; the default when unset.
    static func parse(_ environment: EnvironmentReader, _ name: String, default value: RateLimit) throws -> RateLimit? {
        guard let text = environment.string(name)?.trimmingCharacters(in: .whitespaces) else { return value }
        if text.lowercased() == "off" { return nil }
        let parts = text.split(separator: "/")
        guard parts.count == 2, let requests = Int(parts[0]), let seconds = Int(parts[1]), (1...1_000_000).contains(requests),
            (1...86_400).contains(seconds)
        else {
            throw SettingsError("\(name) must be REQUESTS/SECONDS (for example \(value)) or off, got '\(text)'")
        }
        return RateLimit(requests: requests, seconds: seconds)
    }
}

/// Token buckets by key (an IP address, a customer), in this process's memory: each ingress
/// replica limits on its own, so a fleet of N allows up to N times the figure (Docs/reliability.md).
/// Buckets that have refilled are forgotten, so memory follows the clients active in the last
/// window, not every client ever seen.
final class RateLimiter: Sendable {
    struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    let limit: RateLimit
    private let buckets = Mutex<(all: [String: Bucket], sweepAt: Int)>(([:], 50_000))
    private let clock = ContinuousClock()
    private let capacity: Double
    private let refillPerSecond: Double

    init(_ limit: RateLimit) {
        self.limit = limit
        capacity = Double(limit.requests)
        refillPerSecond = Double(limit.requests) / Double(limit.seconds)
    }

    /// Takes one request from `key`'s bucket: nil when allowed, else the whole seconds until one
    /// is (at least 1), for `Retry-After`.
    func take(_ key: String) -> Int? {
        let now = clock.now
        return buckets.withLock { state in
            if state.all.count >= state.sweepAt {
                Self.forgetRefilled(&state.all, now: now, capacity: capacity, rate: refillPerSecond)
                // The next sweep waits until the map has doubled: one that frees little is not
                // repeated on every request.
                state.sweepAt = max(50_000, state.all.count * 2)
            }
            var bucket = state.all[key] ?? Bucket(tokens: capacity, updated: now)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated).seconds * refillPerSecond)
            bucket.updated = now
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                state.all[key] = bucket
                return nil
            }
            state.all[key] = bucket
            return max(1, Int(((1 - bucket.tokens) / refillPerSecond).rounded(.up)))
        }
    }

    private static func forgetRefilled(
        _ buckets: inout [String: Bucket], now: ContinuousClock.Instant, capacity: Double, rate: Double
    ) {
        buckets = buckets.filter { _, bucket in bucket.tokens + (now - bucket.updated).seconds * rate < capacity }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// The ingress's protections against one client starving the others and against callbacks
/// from elsewhere than Tripay; all configurable (README, Configuration).
public struct IngressProtection: Sendable {
    /// Per client IP address, on every route but health, readiness, metrics and the Tripay
    /// callback (Tripay resends only 3 times: a 429 there would lose a payment's callback).
    public var perAddress: RateLimit?
    /// Per authenticated customer (the token's `sub`), on the API.
    public var perCustomer: RateLimit?
    public var addressing: ClientAddressing
    /// Where Tripay's callbacks may come from; nil accepts any source (the signature still decides).
    public var tripaySources: [IPNetwork]?

    public static let defaultPerAddress = RateLimit(requests: 1200, seconds: 60)
    public static let defaultPerCustomer = RateLimit(requests: 300, seconds: 60)

    public init(
        perAddress: RateLimit? = nil, perCustomer: RateLimit? = nil, addressing: ClientAddressing = ClientAddressing(),
        tripaySources: [IPNetwork]? = nil
    ) {
        self.perAddress = perAddress
        self.perCustomer = perCustomer
        self.addressing = addressing
        self.tripaySources = tripaySources
    }

    public init(_ environment: EnvironmentReader) throws {
        perAddress = try RateLimit.parse(environment, "ARMADA_RATE_LIMIT_PER_IP", default: Self.defaultPerAddress)
        perCustomer = try RateLimit.parse(environment, "ARMADA_RATE_LIMIT_PER_CUSTOMER", default: Self.defaultPerCustomer)
        addressing = ClientAddressing(trustedProxies: try IPNetwork.list(environment, "ARMADA_TRUSTED_PROXIES") ?? [])
        tripaySources = try IPNetwork.list(environment, "TRIPAY_CALLBACK_ALLOWED_IPS")
    }
}

extension Request {
    /// The path as the router matches it: empty segments dropped (`//a/b/` is `/a/b`), so a
    /// check by path cannot be stepped around by a route the router still finds.
    var routedPath: String {
        "/" + uri.path.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
    }
}

/// Answers 429 `RATE_LIMITED` with `Retry-After` once a key's bucket is empty.
struct RateLimitMiddleware: RouterMiddleware {
    enum Scope: String, Sendable { case address, customer }

    let limiter: RateLimiter
    let scope: Scope
    let addressing: ClientAddressing
    /// Paths the limit does not apply to.
    let exempt: Set<String>

    init(_ limit: RateLimit, scope: Scope, addressing: ClientAddressing, exempt: Set<String> = []) {
        limiter = RateLimiter(limit)
        self.scope = scope
        self.addressing = addressing
        self.exempt = exempt
    }

    /// An IPv4 address is one client; an IPv6 one is keyed by its /64, the block one subscriber
    /// gets (rotating through it must not multiply the limit).
    static func bucketKey(_ address: String) -> String {
        guard let bytes = IPNetwork.parse(address), bytes.count == 16 else { return address }
        return "v6:" + bytes.prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    func handle(_ request: Request, context: IngressContext, next: (Request, IngressContext) async throws -> Response) async throws
        -> Response
    {
        guard !exempt.contains(request.routedPath) else { return try await next(request, context) }
        let key: String?
        switch scope {
        case .address: key = addressing.client(request, peer: context.peerAddress).map(Self.bucketKey)
        case .customer: key = context.identity.map { "\($0.role.rawValue):\($0.customerId)" }
        }
        if let key, let wait = limiter.take(key) {
            Counter(label: "armada_ingress_rate_limited_total", dimensions: [("scope", scope.rawValue)]).increment()
            let who = scope == .address ? "this address" : "this account"
            throw APIError(
                .tooManyRequests, .rateLimited,
                "too many requests from \(who) (at most \(limiter.limit.requests) per \(limiter.limit.seconds) s); retry after \(wait) s",
                headers: [.retryAfter: "\(wait)"])
        }
        return try await next(request, context)
    }
}

/// Refuses Tripay callbacks from outside `TRIPAY_CALLBACK_ALLOWED_IPS` (403 `CALLBACK_SOURCE_NOT_ALLOWED`).
struct CallbackSourceMiddleware: RouterMiddleware {
    let allowed: [IPNetwork]
    let addressing: ClientAddressing
    let path: String

    func handle(_ request: Request, context: IngressContext, next: (Request, IngressContext) async throws -> Response) async throws
        -> Response
    {
        guard request.routedPath == path else { return try await next(request, context) }
        let client = addressing.client(request, peer: context.peerAddress)
        guard let client, allowed.contains(where: { $0.contains(client) }) else {
            Counter(label: "armada_webhook_callbacks_total", dimensions: [("outcome", "source_not_allowed")]).increment()
            context.logger.notice("tripay callback from outside the allow-list refused", metadata: ["source": "\(client ?? "unknown")"])
            throw APIError(.forbidden, .callbackSourceNotAllowed, "callbacks are accepted only from Tripay's addresses")
        }
        return try await next(request, context)
    }
}
