import Curl
import Foundation
import Retriability

/// Why a DigitalOcean call failed, and what a caller can do about it.
public enum DigitalOceanError: Error, Sendable, RetryClassifiable, CustomStringConvertible, Equatable {
    /// 401/403: the token is wrong or revoked. Counts against the account's health.
    case unauthorized(status: Int, message: String)
    /// Another 4xx (not 404, not 429): the same request will be refused again (an invalid size,
    /// image or region; the droplet limit reached; an action the droplet's state does not allow).
    case rejected(status: Int, id: String, message: String)
    /// 429: over the hourly or the per-minute limit.
    case rateLimited(RateLimitReading?)
    /// 5xx, a timeout, a lost connection: may succeed later; a create may or may not have happened.
    case unavailable(String)

    public var isRetriable: Bool {
        switch self {
        case .rateLimited, .unavailable: return true
        case .unauthorized, .rejected: return false
        }
    }

    /// A failure that says something about the account (its token or DigitalOcean's side), not
    /// about the request: three in a row make the account UNHEALTHY.
    public var countsAgainstAccount: Bool {
        switch self {
        case .unauthorized, .unavailable: return true
        case .rejected, .rateLimited: return false
        }
    }

    public var description: String {
        switch self {
        case .unauthorized(let status, let message): return "DigitalOcean refused the token (\(status)): \(message)"
        case .rejected(let status, let id, let message): return "DigitalOcean rejected the request (\(status) \(id)): \(message)"
        case .rateLimited(let reading):
            return "DigitalOcean rate limit exceeded" + (reading.map { " (remaining \($0.remaining), reset \($0.reset))" } ?? "")
        case .unavailable(let message): return "DigitalOcean unavailable: \(message)"
        }
    }
}

/// DigitalOcean's API v2 (PROVIDERS.md, `reference/digitalocean-openapi/`) over libcurl.
/// Every call names the token it uses: Armada spreads droplets over several accounts.
public struct DigitalOceanClient: Sendable {
    /// The base without `/v2` (`https://api.digitalocean.com`), or a simulator.
    public let baseURL: String
    private let http: CurlClient
    private let timeout: Double

    public init(baseURL: String, http: CurlClient = CurlClient(), timeout: Double = 30) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.http = http
        self.timeout = timeout
    }

    public func account(token: String) async throws -> DigitalOceanReply<DigitalOceanAccount> {
        let reply = try await call("GET", "/v2/account", token: token, as: AccountEnvelope.self)
        return DigitalOceanReply(value: reply.value.account, rateLimit: reply.rateLimit)
    }

    /// Creates one droplet. 202 means accepted only: the droplet is `new`, and the create action
    /// (returned with it) tells whether it will come up.
    public func createDroplet(_ request: DropletCreateRequest, token: String) async throws -> DigitalOceanReply<
        (droplet: Droplet, createActionId: Int64?)
    > {
        let body = Array(try JSONEncoder().encode(request))
        let reply = try await call("POST", "/v2/droplets", token: token, body: body, as: DropletCreateEnvelope.self)
        let action = reply.value.links?.actions?.first { $0.rel == "create" } ?? reply.value.links?.actions?.first
        return DigitalOceanReply(value: (reply.value.droplet, action?.id), rateLimit: reply.rateLimit)
    }

    /// The droplet, or nil when DigitalOcean does not know it (404).
    public func droplet(id: Int64, token: String) async throws -> DigitalOceanReply<Droplet?> {
        do {
            let reply = try await call("GET", "/v2/droplets/\(id)", token: token, as: DropletEnvelope.self)
            return DigitalOceanReply(value: reply.value.droplet, rateLimit: reply.rateLimit)
        } catch let NotFound.resource(reading) {
            return DigitalOceanReply(value: nil, rateLimit: reading)
        }
    }

    /// Every droplet carrying `tag` (all pages, up to `maxPages` of 200).
    public func droplets(tag: String, token: String, maxPages: Int = 10) async throws -> DigitalOceanReply<[Droplet]> {
        var found: [Droplet] = []
        var reading: RateLimitReading?
        for page in 1...maxPages {
            var components = URLComponents()
            components.queryItems = [
                URLQueryItem(name: "tag_name", value: tag), URLQueryItem(name: "page", value: "\(page)"),
                URLQueryItem(name: "per_page", value: "200"),
            ]
            let reply = try await call(
                "GET", "/v2/droplets?" + (components.percentEncodedQuery ?? ""), token: token, as: DropletListEnvelope.self)
            reading = reply.rateLimit ?? reading
            // Filtered by tag at DigitalOcean; a list that is not is not trusted blindly.
            found += reply.value.droplets.filter { $0.tags.contains(tag) }
            if reply.value.links?.pages?.next == nil || reply.value.droplets.isEmpty { break }
        }
        return DigitalOceanReply(value: found, rateLimit: reading)
    }

    /// Deletes the droplet; one that is already gone (404) is deleted as well. Returns whether it
    /// was still there.
    @discardableResult
    public func deleteDroplet(id: Int64, token: String) async throws -> DigitalOceanReply<Bool> {
        do {
            let reply = try await call("DELETE", "/v2/droplets/\(id)", token: token, as: Empty.self)
            return DigitalOceanReply(value: true, rateLimit: reply.rateLimit)
        } catch let NotFound.resource(reading) {
            return DigitalOceanReply(value: false, rateLimit: reading)
        }
    }

    /// Starts a droplet action (`power_on`, `power_off`, `reboot`, `rebuild` with `image`). Nil
    /// when the droplet is gone.
    public func postAction(dropletId: Int64, type: String, image: String? = nil, token: String) async throws -> DigitalOceanReply<
        DropletAction?
    > {
        var fields = ["type": type]
        if let image { fields["image"] = image }
        let body = Array(try JSONEncoder().encode(fields))
        do {
            let reply = try await call("POST", "/v2/droplets/\(dropletId)/actions", token: token, body: body, as: ActionEnvelope.self)
            return DigitalOceanReply(value: reply.value.action, rateLimit: reply.rateLimit)
        } catch let NotFound.resource(reading) {
            return DigitalOceanReply(value: nil, rateLimit: reading)
        }
    }

    /// The droplet's actions, newest first (the first page): how a caller finds out whether an
    /// action it posted without an answer reached DigitalOcean. Empty when the droplet is gone.
    public func dropletActions(dropletId: Int64, token: String) async throws -> DigitalOceanReply<[DropletAction]> {
        do {
            let reply = try await call(
                "GET", "/v2/droplets/\(dropletId)/actions?page=1&per_page=50", token: token, as: ActionListEnvelope.self)
            return DigitalOceanReply(value: reply.value.actions, rateLimit: reply.rateLimit)
        } catch let NotFound.resource(reading) {
            return DigitalOceanReply(value: [], rateLimit: reading)
        }
    }

    /// The action, or nil when DigitalOcean does not know it.
    public func action(id: Int64, token: String) async throws -> DigitalOceanReply<DropletAction?> {
        do {
            let reply = try await call("GET", "/v2/actions/\(id)", token: token, as: ActionEnvelope.self)
            return DigitalOceanReply(value: reply.value.action, rateLimit: reply.rateLimit)
        } catch let NotFound.resource(reading) {
            return DigitalOceanReply(value: nil, rateLimit: reading)
        }
    }

    private enum NotFound: Error { case resource(RateLimitReading?) }
    private struct Empty: Decodable {}

    private func call<T: Decodable>(
        _ method: String, _ path: String, token: String, body: [UInt8]? = nil, as type: T.Type
    ) async throws -> (value: T, rateLimit: RateLimitReading?) {
        var headers: [(name: String, value: String)] = [("Authorization", "Bearer \(token)"), ("Accept", "application/json")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let response: HTTPResponse
        do {
            response = try await http.send(HTTPRequest(method: method, url: baseURL + path, headers: headers, body: body, timeout: timeout))
        } catch let error as CurlError {
            // Not retriable at the curl level (a bad URL, TLS): still not the request's fault.
            throw DigitalOceanError.unavailable(error.description)
        }
        let reading = Self.rateLimit(response)
        let problem = try? JSONDecoder().decode(DigitalOceanErrorBody.self, from: Data(response.body))
        let message = problem?.message ?? String(decoding: response.body.prefix(200), as: UTF8.self)
        switch response.status {
        case 200..<300:
            if T.self == Empty.self, let empty = Empty() as? T { return (empty, reading) }
            do {
                return (try JSONDecoder().decode(T.self, from: Data(response.body)), reading)
            } catch {
                throw DigitalOceanError.unavailable("HTTP \(response.status): response does not decode: \(error)")
            }
        case 401, 403: throw DigitalOceanError.unauthorized(status: response.status, message: message)
        case 404: throw NotFound.resource(reading)
        case 429: throw DigitalOceanError.rateLimited(reading)
        case 400..<500: throw DigitalOceanError.rejected(status: response.status, id: problem?.id ?? "unknown", message: message)
        default: throw DigitalOceanError.unavailable("HTTP \(response.status): \(message)")
        }
    }

    static func rateLimit(_ response: HTTPResponse) -> RateLimitReading? {
        guard let limit = response.header("RateLimit-Limit").flatMap({ Int($0) }),
            let remaining = response.header("RateLimit-Remaining").flatMap({ Int($0) }),
            let reset = response.header("RateLimit-Reset").flatMap({ Double($0) })
        else { return nil }
        return RateLimitReading(limit: limit, remaining: remaining, reset: Date(timeIntervalSince1970: reset))
    }
}
