import Crypto
import Foundation

/// Tripay's HMAC-SHA256 signatures (PROVIDERS.md), lowercase hex, keyed with the merchant's
/// private key.
public enum TripaySignature {
    /// `X-Callback-Signature`: over the raw request body bytes, exactly as received.
    public static func callback(body: [UInt8], privateKey: String) -> String {
        hex(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(privateKey.utf8))))
    }

    /// Verifies a callback signature in constant time. A header that is not 64 hex digits fails.
    public static func isValidCallback(body: [UInt8], signature: String, privateKey: String) -> Bool {
        guard let mac = bytes(fromHex: signature), mac.count == SHA256.byteCount else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: body, using: SymmetricKey(data: Array(privateKey.utf8)))
    }

    /// `signature` of a closed-payment `transaction/create`: over merchant code + merchant ref + amount.
    public static func transaction(merchantCode: String, merchantRef: String, amount: Int64, privateKey: String) -> String {
        let message = Array("\(merchantCode)\(merchantRef)\(amount)".utf8)
        return hex(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(privateKey.utf8))))
    }

    private static func hex<M: MessageAuthenticationCode>(_ mac: M) -> String {
        mac.map { String(format: "%02x", $0) }.joined()
    }

    private static func bytes(fromHex text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var result: [UInt8] = []
        result.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            result.append(high << 4 | low)
            index += 2
        }
        return result
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
}
