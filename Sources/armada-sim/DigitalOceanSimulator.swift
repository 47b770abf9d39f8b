import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// DigitalOcean's API v2 on loopback, in the shapes of the official OpenAPI subset
/// (`reference/digitalocean-openapi/`): for tests and the local stack, never for production.
///
/// Never kinder than DigitalOcean: a create is not deduplicated (the same name and tags make a
/// second droplet), a droplet is `new` without an address until it boots, every authenticated
/// request counts against the token's 250/minute and 5,000/hour limits (429s included), and
/// 202 only means accepted. Faults are scripted through `POST /_sim/faults`.
struct DigitalOceanSimSettings: Sendable {
    var port: Int
    /// Bearer tokens the simulator accepts; each is its own account.
    var tokens: [String]
    /// Seconds from create until the droplet is `active` with a public IPv4.
    var bootSeconds: Double
    /// Seconds a power/reboot/rebuild action takes.
    var actionSeconds: Double
    var perMinute: Int
    /// The burst limit's window (60 s at DigitalOcean; shorter to compress a test in time).
    var burstWindow: Double
    var perHour: Int
    var dropletLimit: Int

    /// SIM_DO_PORT, SIM_DO_TOKENS (comma-separated), SIM_DO_BOOT_SECONDS, SIM_DO_ACTION_SECONDS,
    /// SIM_DO_RATE_PER_MINUTE, SIM_DO_RATE_WINDOW_SECONDS, SIM_DO_RATE_PER_HOUR, SIM_DO_DROPLET_LIMIT (README).
    init(environment: [String: String]) {
        port = Int(environment["SIM_DO_PORT"] ?? "") ?? 8092
        tokens = (environment["SIM_DO_TOKENS"] ?? "dev-fake-do-token").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
        bootSeconds = Double(environment["SIM_DO_BOOT_SECONDS"] ?? "") ?? 5
        actionSeconds = Double(environment["SIM_DO_ACTION_SECONDS"] ?? "") ?? 3
        perMinute = Int(environment["SIM_DO_RATE_PER_MINUTE"] ?? "") ?? 250
        burstWindow = Double(environment["SIM_DO_RATE_WINDOW_SECONDS"] ?? "") ?? 60
        perHour = Int(environment["SIM_DO_RATE_PER_HOUR"] ?? "") ?? 5000
        dropletLimit = Int(environment["SIM_DO_DROPLET_LIMIT"] ?? "") ?? 25
    }
}

/// Scripted faults: `POST /_sim/faults` adds a rule (every field optional), `DELETE /_sim/faults`
/// clears them. A rule's counters apply to the next matching requests: of any token unless
/// `token` names one, and, when `name` is set, only to creates of a droplet with that name (so
/// tests running side by side script their own orders).
struct SimFaults: Codable, Sendable {
    /// The next N requests answer 500.
    var serverErrors: Int?
    /// The next N requests answer 429 (with the real headers).
    var rateLimited: Int?
    /// The next N creates are accepted but their create action ends `errored` (the droplet
    /// stays `new` with no address).
    var erroredCreates: Int?
    /// The next N creates make the droplet but answer 504 with no JSON: the response is lost.
    var lostCreateResponses: Int?
    /// With `lostCreateResponses`: the droplet shows (get, list) only this many seconds after the
    /// lost answer, as an eventually consistent API may.
    var lostCreateVisibleAfterSeconds: Double?
    /// The next N creates never get a public IPv4 (the create action completes, the droplet
    /// stays `new`).
    var noAddressCreates: Int?
    /// Every response waits this long first.
    var delaySeconds: Double?
    /// Overrides the droplet limit of every account.
    var dropletLimit: Int?
    /// Only this token's requests are affected by the counters.
    var token: String?
    /// Only creates of a droplet with this name.
    var name: String?
}

struct SimBusy: Error {}

actor DigitalOceanWorld {
    struct StoredDroplet: Sendable {
        var id: Int64
        var token: String
        var name: String
        var size: String
        var region: String
        var image: String
        var tags: [String]
        var createdAt: Date
        var status: String
        var ipv4: String?
        var createActionId: Int64
        /// Before this, get and list do not show it.
        var visibleAfter: Date
    }

    struct StoredAction: Sendable {
        var id: Int64
        var token: String
        var dropletId: Int64
        var type: String
        var image: String?
        var startedAt: Date
        var completesAt: Date
        /// Where the action ends: completed, or errored.
        var outcome: String
        var applied = false
    }

    let settings: DigitalOceanSimSettings
    var droplets: [Int64: StoredDroplet] = [:]
    var actions: [Int64: StoredAction] = [:]
    var requests: [String: [Date]] = [:]
    /// When each 429 was answered, by token (scripted ones too), for tests that hold a client
    /// to a pause: no request should come between a 429 and the end of the window.
    var refusals: [String: [Date]] = [:]
    var rules: [SimFaults] = []
    /// DigitalOcean never hands out an id twice; neither does a restarted simulator (ids start
    /// from the clock, ten thousand per second of its start time), so a database that outlived the
    /// simulator never meets an id it already recorded.
    var nextDropletId: Int64 = 300_000_000 + Int64(Date().timeIntervalSince1970 - 1_700_000_000) * 10_000
    var nextActionId: Int64 = 1_900_000_000 + Int64(Date().timeIntervalSince1970 - 1_700_000_000) * 10_000
    /// 429s the limits answered (scripted ones aside), for tests that hold a client's pacing to them.
    var tooManyRequests = 0
    /// The name of every create the simulator accepted, for tests that count duplicates.
    var createdNames: [String] = []

    init(settings: DigitalOceanSimSettings) { self.settings = settings }

    /// Counts the request against the token's limits; nil when over a limit (429).
    func admit(_ token: String, at now: Date) -> (allowed: Bool, limit: Int, remaining: Int, reset: Date) {
        var log = (requests[token] ?? []).filter { now.timeIntervalSince($0) < 3600 }
        log.append(now)
        requests[token] = log
        let lastMinute = log.reversed().prefix { now.timeIntervalSince($0) < settings.burstWindow }.count
        let remaining = max(0, settings.perHour - log.count)
        let reset = (log.first ?? now).addingTimeInterval(3600)
        var allowed = log.count <= settings.perHour && lastMinute <= settings.perMinute
        // Only the limits' own 429s are counted (not scripted ones): what a client's pacing should avoid.
        if !allowed { tooManyRequests += 1 }
        if allowed, takeFault(\.rateLimited, token: token) { allowed = false }
        if !allowed { refusals[token] = (refusals[token] ?? []).filter { now.timeIntervalSince($0) < 3600 } + [now] }
        return (allowed, settings.perHour, remaining, reset)
    }

    func takeFault(_ counter: WritableKeyPath<SimFaults, Int?>, token: String, name: String? = nil) -> Bool {
        for index in rules.indices {
            let rule = rules[index]
            if let only = rule.token, only != token { continue }
            if let only = rule.name, only != name { continue }
            guard let left = rule[keyPath: counter], left > 0 else { continue }
            rules[index][keyPath: counter] = left - 1
            return true
        }
        return false
    }

    func addRule(_ rule: SimFaults) { rules.append(rule) }
    func clearRules() { rules = [] }
    var delay: Double { rules.compactMap(\.delaySeconds).last ?? 0 }
    var dropletLimit: Int { rules.compactMap(\.dropletLimit).last ?? settings.dropletLimit }

    /// Applies what time has done: droplets booted, actions finished.
    func settle(_ now: Date) {
        for (id, droplet) in droplets where droplet.status == "new" {
            guard let create = actions[droplet.createActionId], now >= create.completesAt else { continue }
            if create.outcome == "completed", droplet.ipv4 != nil {
                droplets[id]?.status = "active"
            }
        }
        for (id, action) in actions.sorted(by: { $0.key < $1.key }) where !action.applied && now >= action.completesAt {
            actions[id]?.applied = true
            guard action.outcome == "completed", action.type != "create", droplets[action.dropletId] != nil else { continue }
            switch action.type {
            case "power_off", "shutdown": droplets[action.dropletId]?.status = "off"
            case "power_on", "reboot", "power_cycle": droplets[action.dropletId]?.status = "active"
            case "rebuild":
                droplets[action.dropletId]?.status = "active"
                if let image = action.image { droplets[action.dropletId]?.image = image }
            default: break
            }
        }
    }

    func create(_ request: SimDropletCreate, token: String, now: Date) -> (StoredDroplet, lost: Bool)? {
        settle(now)
        let owned = droplets.values.filter { $0.token == token }.count
        guard owned < dropletLimit else { return nil }
        nextDropletId += 1
        nextActionId += 1
        createdNames.append(request.name)
        let errored = takeFault(\.erroredCreates, token: token, name: request.name)
        let noAddress = takeFault(\.noAddressCreates, token: token, name: request.name)
        let lost = takeFault(\.lostCreateResponses, token: token, name: request.name)
        let hidden = lost ? (rules.compactMap(\.lostCreateVisibleAfterSeconds).last ?? 0) : 0
        let id = nextDropletId
        let address = errored || noAddress ? nil : "203.0.113.\(Int(id % 250) + 1)"
        let droplet = StoredDroplet(
            id: id, token: token, name: request.name, size: request.size, region: request.region, image: request.image,
            tags: request.tags ?? [], createdAt: now, status: "new", ipv4: address, createActionId: nextActionId,
            visibleAfter: now.addingTimeInterval(hidden))
        droplets[id] = droplet
        actions[nextActionId] = StoredAction(
            id: nextActionId, token: token, dropletId: id, type: "create", image: request.image, startedAt: now,
            completesAt: now.addingTimeInterval(settings.bootSeconds), outcome: errored ? "errored" : "completed")
        return (droplet, lost)
    }

    func droplet(_ id: Int64, token: String, now: Date) -> StoredDroplet? {
        settle(now)
        return droplets[id].flatMap { $0.token == token && now >= $0.visibleAfter ? $0 : nil }
    }

    func list(tag: String?, token: String, now: Date) -> [StoredDroplet] {
        settle(now)
        return droplets.values.filter { $0.token == token && now >= $0.visibleAfter && (tag == nil || $0.tags.contains(tag!)) }.sorted {
            $0.id < $1.id
        }
    }

    func all(now: Date) -> [StoredDroplet] {
        settle(now)
        return droplets.values.sorted { $0.id < $1.id }
    }

    func delete(_ id: Int64, token: String) -> Bool {
        guard let droplet = droplets[id], droplet.token == token else { return false }
        droplets[id] = nil
        return true
    }

    /// Nil when the droplet is not this token's; `.failure` when it has an action in progress
    /// (DigitalOcean refuses a second: "Droplet already has a pending event.").
    func startAction(_ type: String, image: String?, droplet id: Int64, token: String, now: Date) -> Result<StoredAction, SimBusy>? {
        settle(now)
        guard let droplet = droplets[id], droplet.token == token else { return nil }
        if actions.values.contains(where: { $0.dropletId == id && !$0.applied && now < $0.completesAt }) { return .failure(SimBusy()) }
        nextActionId += 1
        let action = StoredAction(
            id: nextActionId, token: token, dropletId: droplet.id, type: type, image: image, startedAt: now,
            completesAt: now.addingTimeInterval(settings.actionSeconds), outcome: "completed")
        actions[nextActionId] = action
        return .success(action)
    }

    func actions(ofDroplet id: Int64, token: String, now: Date) -> [StoredAction]? {
        settle(now)
        guard droplets[id]?.token == token else { return nil }
        return actions.values.filter { $0.dropletId == id }.sorted { $0.id > $1.id }
    }

    func action(_ id: Int64, token: String, now: Date) -> StoredAction? {
        settle(now)
        return actions[id].flatMap { $0.token == token ? $0 : nil }
    }
}

/// `POST /v2/droplets` as DigitalOcean reads it: the simulator's own wire type.
struct SimDropletCreate: Decodable, Sendable {
    var name: String
    var region: String
    var size: String
    var image: String
    var sshKeys: [String]?
    var tags: [String]?

    enum CodingKeys: String, CodingKey {
        case name, region, size, image, tags
        case sshKeys = "ssh_keys"
    }
}

struct DigitalOceanSimulator: Sendable {
    let settings: DigitalOceanSimSettings
    let world: DigitalOceanWorld
    let logger: Logger

    static let regions = ["sgp1", "nyc1", "nyc3", "sfo3", "ams3", "fra1", "lon1", "blr1", "syd1", "tor1"]
    static let sizes: [String: (vcpus: Int, memory: Int, disk: Int, transfer: Double, monthly: Double)] = [
        "s-1vcpu-1gb": (1, 1024, 25, 1, 6), "s-1vcpu-2gb": (1, 2048, 50, 2, 12), "s-2vcpu-2gb": (2, 2048, 60, 3, 18),
        "s-2vcpu-4gb": (2, 4096, 80, 4, 24), "s-4vcpu-8gb": (4, 8192, 160, 5, 48), "s-8vcpu-16gb": (8, 16384, 320, 6, 96),
    ]
    static let images = ["ubuntu-22-04-x64", "ubuntu-24-04-x64", "debian-12-x64", "centos-stream-9-x64", "debian-11-x64", "fedora-40-x64"]

    init(settings: DigitalOceanSimSettings, logger: Logger) {
        self.settings = settings
        self.world = DigitalOceanWorld(settings: settings)
        self.logger = logger
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/v2/account") { request, _ in
            await authorized(request) { token, headers in
                let limit = await world.dropletLimit
                return json(
                    .ok,
                    [
                        "account": [
                            "droplet_limit": limit, "floating_ip_limit": 3, "email": "sim-\(token.prefix(4))@example.invalid",
                            "name": "Simulated", "uuid": Self.uuid(token), "email_verified": true, "status": "active",
                            "status_message": "",
                        ] as [String: Any]
                    ], headers)
            }
        }
        router.post("/v2/droplets") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            return await authorized(request) { token, headers in
                guard let create = try? JSONDecoder().decode(SimDropletCreate.self, from: Data(buffer: body)) else {
                    return problem(.badRequest, "bad_request", "The request body is not a droplet create request.", headers)
                }
                if let invalid = validate(create) { return problem(.unprocessableContent, "unprocessable_entity", invalid, headers) }
                let now = Date()
                guard let (droplet, lost) = await world.create(create, token: token, now: now) else {
                    return problem(
                        .unprocessableContent, "unprocessable_entity", "creating this/these droplet(s) will exceed your droplet limit",
                        headers)
                }
                logger.info("droplet created", metadata: ["id": "\(droplet.id)", "name": "\(droplet.name)", "tags": "\(droplet.tags)"])
                if lost {
                    // Created, but the answer never reaches the caller.
                    return Response(
                        status: .gatewayTimeout, headers: [.contentType: "text/html"],
                        body: .init(byteBuffer: ByteBuffer(string: "<html><body><h1>504 Gateway Time-out</h1></body></html>")))
                }
                return json(
                    .accepted,
                    [
                        "droplet": render(droplet, now: now),
                        "links": [
                            "actions": [
                                ["id": droplet.createActionId, "rel": "create", "href": base + "/v2/actions/\(droplet.createActionId)"]
                            ]
                        ],
                    ], headers)
            }
        }
        router.get("/v2/droplets") { request, _ in
            await authorized(request) { token, headers in
                let query = request.uri.queryParameters
                let perPage = min(200, max(1, query.get("per_page").flatMap(Int.init) ?? 20))
                let page = max(1, query.get("page").flatMap(Int.init) ?? 1)
                let now = Date()
                let all = await world.list(tag: query.get("tag_name"), token: token, now: now)
                let slice = all.dropFirst((page - 1) * perPage).prefix(perPage)
                var pages: [String: String] = [:]
                let last = max(1, (all.count + perPage - 1) / perPage)
                let tagQuery = query.get("tag_name").map { "&tag_name=\($0)" } ?? ""
                if page < last {
                    pages["next"] = base + "/v2/droplets?page=\(page + 1)&per_page=\(perPage)" + tagQuery
                    pages["last"] = base + "/v2/droplets?page=\(last)&per_page=\(perPage)" + tagQuery
                }
                if page > 1 {
                    pages["first"] = base + "/v2/droplets?page=1&per_page=\(perPage)" + tagQuery
                    pages["prev"] = base + "/v2/droplets?page=\(page - 1)&per_page=\(perPage)" + tagQuery
                }
                return json(
                    .ok, ["droplets": slice.map { render($0, now: now) }, "links": ["pages": pages], "meta": ["total": all.count]],
                    headers)
            }
        }
        router.get("/v2/droplets/:id") { request, context in
            let id = Int64(context.parameters.get("id") ?? "") ?? -1
            return await authorized(request) { token, headers in
                let now = Date()
                guard let droplet = await world.droplet(id, token: token, now: now) else { return notFound(headers) }
                return json(.ok, ["droplet": render(droplet, now: now)], headers)
            }
        }
        router.delete("/v2/droplets/:id") { request, context in
            let id = Int64(context.parameters.get("id") ?? "") ?? -1
            return await authorized(request) { token, headers in
                guard await world.delete(id, token: token) else { return notFound(headers) }
                logger.info("droplet deleted", metadata: ["id": "\(id)"])
                var response = Response(status: .noContent)
                response.headers.append(contentsOf: headers)
                return response
            }
        }
        router.post("/v2/droplets/:id/actions") { request, context in
            let id = Int64(context.parameters.get("id") ?? "") ?? -1
            let body = try await request.body.collect(upTo: 1 << 16)
            return await authorized(request) { token, headers in
                let fields = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any]
                let known = ["power_on", "power_off", "shutdown", "reboot", "power_cycle", "rebuild"]
                guard let type = fields?["type"] as? String, known.contains(type) else {
                    return problem(.unprocessableContent, "unprocessable_entity", "type is not a supported action", headers)
                }
                let image = fields?["image"] as? String
                if type == "rebuild", image.map({ !Self.images.contains($0) }) ?? true {
                    return problem(
                        .unprocessableContent, "unprocessable_entity", "You specified an invalid image for Droplet rebuild.", headers)
                }
                let now = Date()
                switch await world.startAction(type, image: image, droplet: id, token: token, now: now) {
                case .none: return notFound(headers)
                case .failure:
                    return problem(.unprocessableContent, "unprocessable_entity", "Droplet already has a pending event.", headers)
                case .success(let action): return json(.created, ["action": render(action, now: now)], headers)
                }
            }
        }
        router.get("/v2/droplets/:id/actions") { request, context in
            let id = Int64(context.parameters.get("id") ?? "") ?? -1
            return await authorized(request) { token, headers in
                let now = Date()
                guard let actions = await world.actions(ofDroplet: id, token: token, now: now) else { return notFound(headers) }
                let page = actions.prefix(50).map { render($0, now: now) }
                return json(.ok, ["actions": page, "links": [String: String](), "meta": ["total": actions.count]], headers)
            }
        }
        router.get("/v2/actions/:id") { request, context in
            let id = Int64(context.parameters.get("id") ?? "") ?? -1
            return await authorized(request) { token, headers in
                let now = Date()
                guard let action = await world.action(id, token: token, now: now) else { return notFound(headers) }
                return json(.ok, ["action": render(action, now: now)], headers)
            }
        }
        // The control API for tests and demos.
        router.post("/_sim/faults") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 16)
            guard let faults = try? JSONDecoder().decode(SimFaults.self, from: Data(buffer: body)) else {
                return problem(.badRequest, "bad_request", "body must be a faults object", [:])
            }
            await world.addRule(faults)
            return json(.ok, ["ok": true], [:])
        }
        router.delete("/_sim/faults") { _, _ in
            await world.clearRules()
            return json(.ok, ["ok": true], [:])
        }
        router.get("/_sim/droplets") { request, _ in
            let now = Date()
            let tag = request.uri.queryParameters.get("tag_name")
            let all = await world.all(now: now).filter { tag == nil || $0.tags.contains(tag!) }
            let names = await world.createdNames
            let name = request.uri.queryParameters.get("name")
            return json(
                .ok,
                [
                    "droplets": all.map { render($0, now: now) },
                    "creates": name.map { name in names.filter { $0 == name }.count } ?? names.count,
                ],
                [:])
        }
        // Every request a token made in the last hour and every 429 it got, as Unix seconds.
        router.get("/_sim/requests") { request, _ in
            let token = request.uri.queryParameters.get("token").map { String($0) } ?? ""
            let made = await world.requests[token] ?? []
            let refused = await world.refusals[token] ?? []
            return json(
                .ok, ["requests": made.map(\.timeIntervalSince1970), "refused": refused.map(\.timeIntervalSince1970)], [:])
        }
        router.get("/health") { _, _ in json(.ok, ["status": "ok"], [:]) }
        return router
    }

    private var base: String { "http://127.0.0.1:\(settings.port)" }

    private func validate(_ create: SimDropletCreate) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
        guard !create.name.isEmpty, create.name.count <= 255, create.name.allSatisfy({ allowed.contains($0) }) else {
            return "Name is invalid: only letters, digits, dashes and periods."
        }
        guard Self.regions.contains(create.region) else { return "You specified an invalid region for Droplet creation." }
        guard Self.sizes[create.size] != nil else { return "You specified an invalid size for Droplet creation." }
        guard Self.images.contains(create.image) else { return "You specified an invalid image for Droplet creation." }
        return nil
    }

    /// Authenticates, applies the rate limit and scripted faults, adds the `RateLimit-*` headers.
    private func authorized(_ request: Request, _ body: (String, HTTPFields) async -> Response) async -> Response {
        let delay = await world.delay
        if delay > 0 { try? await Task.sleep(for: .milliseconds(Int(delay * 1000))) }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            case let token = String(header.dropFirst(7)), settings.tokens.contains(token)
        else {
            return problem(.unauthorized, "unauthorized", "Unable to authenticate you", [:])
        }
        let admission = await world.admit(token, at: Date())
        var headers = HTTPFields()
        headers[HTTPField.Name("RateLimit-Limit")!] = "\(admission.limit)"
        headers[HTTPField.Name("RateLimit-Remaining")!] = "\(admission.remaining)"
        headers[HTTPField.Name("RateLimit-Reset")!] = "\(Int64(admission.reset.timeIntervalSince1970))"
        guard admission.allowed else { return problem(.tooManyRequests, "too_many_requests", "API Rate limit exceeded.", headers) }
        if await world.takeFault(\.serverErrors, token: token) {
            return problem(.internalServerError, "server_error", "Server was unable to give you a response.", headers)
        }
        return await body(token, headers)
    }

    private func render(_ droplet: DigitalOceanWorld.StoredDroplet, now: Date) -> [String: Any] {
        let size = Self.sizes[droplet.size] ?? (1, 1024, 25, 1, 6)
        let v4: [[String: Any]] =
            droplet.status == "new" || droplet.ipv4 == nil
            ? []
            : [
                ["ip_address": droplet.ipv4!, "netmask": "255.255.255.0", "gateway": "203.0.113.254", "type": "public"],
                ["ip_address": "10.130.0.\(droplet.id % 250 + 2)", "netmask": "255.255.0.0", "gateway": "10.130.0.1", "type": "private"],
            ]
        return [
            "id": droplet.id, "name": droplet.name, "memory": size.memory, "vcpus": size.vcpus, "disk": size.disk,
            "locked": false, "status": droplet.status, "kernel": NSNull(), "created_at": iso(droplet.createdAt),
            "features": ["monitoring"], "backup_ids": [Int](), "next_backup_window": NSNull(), "snapshot_ids": [Int](),
            "image": [
                "id": abs(droplet.image.hashValue % 100_000_000), "name": droplet.image, "slug": droplet.image, "public": true,
                "distribution": "Unknown", "regions": Self.regions, "type": "base",
            ] as [String: Any],
            "volume_ids": [String](),
            "size": [
                "slug": droplet.size, "memory": size.memory, "vcpus": size.vcpus, "disk": size.disk, "transfer": size.transfer,
                "price_monthly": size.monthly, "price_hourly": size.monthly / 730, "regions": Self.regions, "available": true,
                "description": "Basic",
            ] as [String: Any],
            "size_slug": droplet.size,
            "networks": ["v4": v4, "v6": [[String: Any]]()],
            "region": [
                "name": droplet.region, "slug": droplet.region, "features": ["metadata"], "available": true,
                "sizes": Array(Self.sizes.keys),
            ] as [String: Any],
            "tags": droplet.tags, "vpc_uuid": Self.uuid(droplet.token + droplet.region),
        ]
    }

    private func render(_ action: DigitalOceanWorld.StoredAction, now: Date) -> [String: Any] {
        let done = now >= action.completesAt
        return [
            "id": action.id, "status": done ? action.outcome : "in-progress", "type": action.type, "started_at": iso(action.startedAt),
            "completed_at": done ? iso(action.completesAt) : NSNull(), "resource_id": action.dropletId, "resource_type": "droplet",
            "region": NSNull(), "region_slug": NSNull(),
        ]
    }

    private static func uuid(_ seed: String) -> String {
        var hasher = Hasher()
        hasher.combine(seed)
        let value = UInt64(bitPattern: Int64(hasher.finalize()))
        let hex = String(format: "%016llx%016llx", value, ~value)
        let c = Array(hex)
        return "\(String(c[0..<8]))-\(String(c[8..<12]))-\(String(c[12..<16]))-\(String(c[16..<20]))-\(String(c[20..<32]))"
    }
}

private func iso(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    return formatter.string(from: date)
}

private func json(_ status: HTTPResponse.Status, _ value: Any, _ headers: HTTPFields) -> Response {
    let data = (try? JSONSerialization.data(withJSONObject: value)) ?? Data("{}".utf8)
    var fields = headers
    fields[.contentType] = "application/json; charset=utf-8"
    return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

private func problem(_ status: HTTPResponse.Status, _ id: String, _ message: String, _ headers: HTTPFields) -> Response {
    json(status, ["id": id, "message": message, "request_id": UUID().uuidString.lowercased()], headers)
}

private func notFound(_ headers: HTTPFields) -> Response {
    problem(.notFound, "not_found", "The resource you were accessing could not be found.", headers)
}
