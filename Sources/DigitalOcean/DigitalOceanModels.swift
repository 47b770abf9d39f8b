import Foundation

/// A droplet as `GET /v2/droplets/{id}` describes it (the fields Armada reads; the rest of the
/// official shape is ignored when decoding).
public struct Droplet: Decodable, Sendable, Equatable {
    public var id: Int64
    public var name: String
    /// `new`, `active`, `off` or `archive`. There is no `errored`: a failed create shows as its
    /// create action ending `errored`.
    public var status: String
    public var locked: Bool
    public var sizeSlug: String
    public var tags: [String]
    public var createdAt: String
    public var networks: Networks
    public var region: Region
    public var image: Image

    public struct Networks: Decodable, Sendable, Equatable {
        public var v4: [NetworkV4]
        public var v6: [NetworkV6]?
    }

    public struct NetworkV4: Decodable, Sendable, Equatable {
        public var ipAddress: String
        public var netmask: String?
        public var gateway: String?
        public var type: String

        enum CodingKeys: String, CodingKey {
            case netmask, gateway, type
            case ipAddress = "ip_address"
        }
    }

    public struct NetworkV6: Decodable, Sendable, Equatable {
        public var ipAddress: String
        public var type: String

        enum CodingKeys: String, CodingKey {
            case type
            case ipAddress = "ip_address"
        }
    }

    public struct Region: Decodable, Sendable, Equatable {
        public var slug: String
    }

    public struct Image: Decodable, Sendable, Equatable {
        public var slug: String?
    }

    enum CodingKeys: String, CodingKey {
        case id, name, status, locked, tags, networks, region, image
        case sizeSlug = "size_slug"
        case createdAt = "created_at"
    }

    /// The public IPv4 address, once DigitalOcean assigned one.
    public var publicIPv4: String? { networks.v4.first { $0.type == "public" }?.ipAddress }
}

/// A droplet action (`POST /v2/droplets/{id}/actions`, `GET /v2/actions/{id}`).
public struct DropletAction: Decodable, Sendable, Equatable {
    public enum Status: String, Decodable, Sendable {
        case inProgress = "in-progress"
        case completed
        case errored
    }

    public var id: Int64
    public var status: Status
    public var type: String
    public var startedAt: String?
    public var completedAt: String?
    public var resourceId: Int64?
    public var resourceType: String?
    public var regionSlug: String?

    enum CodingKeys: String, CodingKey {
        case id, status, type
        case startedAt = "started_at"
        case completedAt = "completed_at"
        case resourceId = "resource_id"
        case resourceType = "resource_type"
        case regionSlug = "region_slug"
    }
}

/// `GET /v2/account`'s `account`.
public struct DigitalOceanAccount: Decodable, Sendable, Equatable {
    public var dropletLimit: Int
    public var email: String
    public var uuid: String
    /// `active`, `warning` or `locked`.
    public var status: String
    public var statusMessage: String

    enum CodingKeys: String, CodingKey {
        case email, uuid, status
        case dropletLimit = "droplet_limit"
        case statusMessage = "status_message"
    }
}

/// `POST /v2/droplets` for one droplet.
public struct DropletCreateRequest: Encodable, Sendable, Equatable {
    public var name: String
    public var region: String
    public var size: String
    public var image: String
    public var sshKeys: [String]
    public var tags: [String]
    public var ipv6: Bool
    public var monitoring: Bool

    public init(name: String, region: String, size: String, image: String, sshKeys: [String], tags: [String]) {
        self.name = name
        self.region = region
        self.size = size
        self.image = image
        self.sshKeys = sshKeys
        self.tags = tags
        self.ipv6 = false
        self.monitoring = true
    }

    enum CodingKeys: String, CodingKey {
        case name, region, size, image, tags, ipv6, monitoring
        case sshKeys = "ssh_keys"
    }
}

/// What DigitalOcean says about the token's hourly budget on every response (PROVIDERS.md:
/// the headers describe the hourly window; the per-minute burst limit has none).
public struct RateLimitReading: Sendable, Equatable {
    public var limit: Int
    public var remaining: Int
    /// When the oldest counted request leaves the hourly window.
    public var reset: Date

    public init(limit: Int, remaining: Int, reset: Date) {
        self.limit = limit
        self.remaining = remaining
        self.reset = reset
    }
}

/// A response's value together with the rate-limit reading it carried.
public struct DigitalOceanReply<Value: Sendable>: Sendable {
    public var value: Value
    public var rateLimit: RateLimitReading?
}

/// DigitalOcean's error body: `{"id": "not_found", "message": "...", "request_id": "..."}`.
struct DigitalOceanErrorBody: Decodable {
    var id: String
    var message: String
}

struct DropletEnvelope: Decodable {
    var droplet: Droplet
}

struct DropletCreateEnvelope: Decodable {
    struct Links: Decodable {
        struct ActionLink: Decodable {
            var id: Int64
            var rel: String
        }
        var actions: [ActionLink]?
    }
    var droplet: Droplet
    var links: Links?
}

struct DropletListEnvelope: Decodable {
    struct Meta: Decodable { var total: Int }
    struct Links: Decodable {
        struct Pages: Decodable { var next: String? }
        var pages: Pages?
    }
    var droplets: [Droplet]
    var links: Links?
    var meta: Meta
}

struct ActionEnvelope: Decodable {
    var action: DropletAction
}

struct ActionListEnvelope: Decodable {
    var actions: [DropletAction]
}

struct AccountEnvelope: Decodable {
    var account: DigitalOceanAccount
}
