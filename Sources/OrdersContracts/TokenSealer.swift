import Crypto
import Foundation
import Messaging

/// Seals DigitalOcean tokens at rest: AES-256-GCM under `ARMADA_ENCRYPTION_KEY` (64 hex digits),
/// a fresh random 96-bit nonce per seal; stored as nonce ‖ ciphertext ‖ tag. A tampered
/// ciphertext or another key fails to open.
public struct TokenSealer: Sendable {
    private let key: SymmetricKey

    public struct KeyError: Error, CustomStringConvertible {
        public var description: String
    }

    public struct OpenError: Error, CustomStringConvertible {
        public var description: String { "a sealed DigitalOcean token does not open with ARMADA_ENCRYPTION_KEY (another key, or tampered)" }
    }

    /// From 64 hex digits (32 bytes); anything else is refused.
    public init(hexKey: String) throws {
        let text = hexKey.trimmingCharacters(in: .whitespaces)
        guard text.count == 64, text.allSatisfy(\.isHexDigit) else {
            throw KeyError(description: "ARMADA_ENCRYPTION_KEY must be 64 hex digits (32 bytes), got \(text.count) characters")
        }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        key = SymmetricKey(data: bytes)
    }

    /// Reads ARMADA_ENCRYPTION_KEY; a missing or malformed key stops the process at start.
    public init(_ environment: EnvironmentReader) throws {
        let hex = try environment.required("ARMADA_ENCRYPTION_KEY")
        do {
            try self.init(hexKey: hex)
        } catch let error as KeyError {
            throw SettingsError(error.description)
        }
    }

    public func seal(_ token: String) throws -> [UInt8] {
        let box = try AES.GCM.seal(Array(token.utf8), using: key)
        guard let combined = box.combined else { throw OpenError() }
        return Array(combined)
    }

    public func open(_ sealed: [UInt8]) throws -> String {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return String(decoding: try AES.GCM.open(box, using: key), as: UTF8.self)
        } catch {
            throw OpenError()
        }
    }

    /// SHA-256 of the token, hex: tells two accounts with the same token apart without storing it.
    public static func fingerprint(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
