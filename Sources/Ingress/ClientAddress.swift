import Foundation
import HTTPTypes
import Hummingbird
import Messaging

/// An IPv4 or IPv6 network (`95.111.200.230`, `10.0.0.0/8`, `2a04:3543::/32`). IPv4-mapped IPv6
/// addresses (`::ffff:10.0.0.1`, what a dual-stack socket reports) match their IPv4 form.
public struct IPNetwork: Sendable, Equatable, CustomStringConvertible {
    let bytes: [UInt8]
    let prefix: Int

    public init?(_ text: String) {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: "/", maxSplits: 1)
        guard let first = parts.first, let address = Self.parse(String(first)) else { return nil }
        let maximum = address.count * 8
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...maximum).contains(length) else { return nil }
            prefix = length
        } else {
            prefix = maximum
        }
        bytes = address
    }

    public var description: String {
        let text =
            bytes.count == 4
            ? bytes.map(String.init).joined(separator: ".")
            : stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(
                separator: ":")
        return prefix == bytes.count * 8 ? text : "\(text)/\(prefix)"
    }

    public func contains(_ address: String) -> Bool {
        guard let candidate = Self.parse(address), candidate.count == bytes.count else { return false }
        var remaining = prefix
        for (mine, theirs) in zip(bytes, candidate) where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if mine & mask != theirs & mask { return false }
            remaining -= bits
        }
        return true
    }

    /// 4 bytes for IPv4 (and IPv4-mapped IPv6), 16 for IPv6; nil for anything else.
    static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return Array(bytes[12...]) }
        return bytes
    }

    /// A comma-separated list of networks from an environment variable; nil when unset.
    static func list(_ environment: EnvironmentReader, _ name: String) throws -> [IPNetwork]? {
        guard let text = environment.string(name) else { return nil }
        return try text.split(separator: ",").map { item in
            guard let network = IPNetwork(String(item)) else {
                throw SettingsError("\(name) must be a comma-separated list of IP addresses or CIDR networks, got '\(item)'")
            }
            return network
        }
    }
}

/// Where a request comes from: the peer's address, or, when the peer is a proxy of ours
/// (`ARMADA_TRUSTED_PROXIES`), the nearest address in `X-Forwarded-For` that is not one. A
/// client cannot choose its own address by sending the header: entries are read from the right
/// and only trusted proxies are skipped.
public struct ClientAddressing: Sendable {
    public var trustedProxies: [IPNetwork]

    public init(trustedProxies: [IPNetwork] = []) {
        self.trustedProxies = trustedProxies
    }

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    func isTrusted(_ address: String) -> Bool { trustedProxies.contains { $0.contains(address) } }

    /// nil only when the transport has no address (an in-process test).
    func client(_ request: Request, peer: String?) -> String? {
        guard let peer, isTrusted(peer) else { return peer }
        let forwarded = request.headers[values: Self.forwardedFor].flatMap { $0.split(separator: ",") }.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        var client = peer
        for hop in forwarded.reversed() {
            guard IPNetwork.parse(hop) != nil else { break }
            client = hop
            if !isTrusted(hop) { break }
        }
        return client
    }
}
