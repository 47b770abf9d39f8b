import Crypto
import Foundation
import Messaging

/// Seals DigitalOcean tokens at rest: AES-256-GCM under `ARMADA_ENCRYPTION_KEY` (64 hex digits),
/// a fresh random 96-bit nonce per seal; stored as nonce ‖ ciphertext ‖ tag. A tampered
/// ciphertext or another key fails to open.
public struct TokenSealer: Sendable {
    private let key: SymmetricKey
    /// Keys being rotated out (ARMADA_ENCRYPTION_KEY_PREVIOUS): tokens sealed with them still
    /// open; `armadactl do-accounts reseal` seals every stored token with `key` again.
    private let previous: [SymmetricKey]

    public struct KeyError: Error, CustomStringConvertible {
        public var description: String
    }

    public struct OpenError: Error, CustomStringConvertible {
        public var description: String {
            "a sealed DigitalOcean token does not open with ARMADA_ENCRYPTION_KEY or ARMADA_ENCRYPTION_KEY_PREVIOUS (another key, or tampered)"
        }
    }

    /// From 64 hex digits (32 bytes) each; anything else is refused. `previousHexKeys` are
    /// keys being rotated out: they only open.
    public init(hexKey: String, previousHexKeys: [String] = []) throws {
        key = try Self.key(hexKey, name: "ARMADA_ENCRYPTION_KEY")
        previous = try previousHexKeys.map { try Self.key($0, name: "ARMADA_ENCRYPTION_KEY_PREVIOUS") }
    }

    static func key(_ hex: String, name: String) throws -> SymmetricKey {
        let text = hex.trimmingCharacters(in: .whitespaces)
        guard text.count == 64, text.allSatisfy(\.isHexDigit) else {
            throw KeyError(description: "\(name) must be 64 hex digits (32 bytes), got \(text.count) characters")
        }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return SymmetricKey(data: bytes)
    }

    /// Reads ARMADA_ENCRYPTION_KEY and, during a rotation, ARMADA_ENCRYPTION_KEY_PREVIOUS (one or
    /// more old keys, comma-separated); a missing or malformed key stops the process at start.
    public init(_ environment: EnvironmentReader) throws {
        let hex = try environment.required("ARMADA_ENCRYPTION_KEY")
        let previous = (environment.string("ARMADA_ENCRYPTION_KEY_PREVIOUS") ?? "").split(separator: ",").map(String.init)
            .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        do {
            try self.init(hexKey: hex, previousHexKeys: previous)
        } catch let error as KeyError {
            throw SettingsError(error.description)
        }
    }

    public func seal(_ token: String) throws -> [UInt8] {
        let box = try AES.GCM.seal(Array(token.utf8), using: key)
        guard let combined = box.combined else { throw OpenError() }
        return Array(combined)
    }

    /// The token, opened with the current key or, during a rotation, a previous one.
    public func open(_ sealed: [UInt8]) throws -> String {
        try openTelling(sealed).token
    }

    /// The token, and whether it was sealed with the current key (else it needs resealing).
    public func openTelling(_ sealed: [UInt8]) throws -> (token: String, current: Bool) {
        guard let box = try? AES.GCM.SealedBox(combined: sealed) else { throw OpenError() }
        for (index, candidate) in ([key] + previous).enumerated() {
            if let plain = try? AES.GCM.open(box, using: candidate) {
                return (String(decoding: plain, as: UTF8.self), index == 0)
            }
        }
        throw OpenError()
    }

    /// SHA-256 of the token, hex: tells two accounts with the same token apart without storing it.
    public static func fingerprint(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
