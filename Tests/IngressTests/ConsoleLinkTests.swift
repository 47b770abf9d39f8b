import Crypto
import Foundation
import Testing

@testable import Ingress

@Suite("Console links from the configured template")
struct ConsoleLinkTests {
    @Test("placeholders are filled, the link expires in 10 minutes, and its signature is the HMAC of order, droplet and expiry")
    func link() throws {
        let links = ConsoleLinks(
            template: "https://console.example.test/{dropletId}?order={orderId}&ip={ipv4}&exp={expires}&sig={signature}",
            signingKey: "test-fake-console-key")
        let order = try #require(UUID(uuidString: "5B1D6C1E-8F0A-5A49-9C3E-2F6D7A8B9C01"))
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let (url, expiresAt) = links.link(orderId: order, dropletId: 300_000_001, ipv4: "203.0.113.2", now: now)
        #expect(expiresAt == now.addingTimeInterval(600))
        let signature = HMAC<SHA256>.authenticationCode(
            for: Array("5b1d6c1e-8f0a-5a49-9c3e-2f6d7a8b9c01:300000001:1800000600".utf8),
            using: SymmetricKey(data: Array("test-fake-console-key".utf8))
        ).map { String(format: "%02x", $0) }.joined()
        #expect(
            url
                == "https://console.example.test/300000001?order=5b1d6c1e-8f0a-5a49-9c3e-2f6d7a8b9c01&ip=203.0.113.2&exp=1800000600&sig=\(signature)"
        )
        let other = links.link(orderId: order, dropletId: 300_000_002, ipv4: nil, now: now).url
        #expect(!other.contains(signature), "another droplet, another signature")
    }
}
