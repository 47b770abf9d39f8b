import Crypto
import Foundation

/// Deterministic message ids (UUID version 5, RFC 9562): the same business fact always gets
/// the same id, so a retried request or a repeated callback is deduplicated by the inbox.
public enum MessageID {
    /// Armada's namespace for name-based ids.
    public static let namespace = UUID(uuidString: "5b0e0f4e-6a7d-4c1e-9d3a-2f8e1c6b9a10")!

    public static func derive(_ parts: String...) -> UUID {
        derive(namespace: namespace, name: parts.joined(separator: "\u{1F}"))
    }

    public static func derive(namespace: UUID, name: String) -> UUID {
        var bytes = withUnsafeBytes(of: namespace.uuid) { Array($0) }
        bytes.append(contentsOf: Array(name.utf8))
        var hash = Array(Insecure.SHA1.hash(data: bytes).prefix(16))
        hash[6] = (hash[6] & 0x0f) | 0x50  // version 5
        hash[8] = (hash[8] & 0x3f) | 0x80  // RFC 4122 variant
        return UUID(
            uuid: (
                hash[0], hash[1], hash[2], hash[3], hash[4], hash[5], hash[6], hash[7], hash[8], hash[9], hash[10],
                hash[11], hash[12], hash[13], hash[14], hash[15]
            ))
    }
}
