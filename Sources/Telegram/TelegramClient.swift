import Curl
import Foundation
import Retriability

/// Why a `sendMessage` failed, and what the sender should do (PROVIDERS.md, Telegram Bot API).
public enum TelegramError: Error, Sendable, RetryClassifiable, CustomStringConvertible, Equatable {
    /// 429: wait `retryAfter` seconds before sending to this chat again.
    case rateLimited(retryAfter: Int, description: String)
    /// 403 (the user blocked the bot, the bot was kicked) or 400 (chat not found, a text Telegram
    /// cannot parse): the same message will be refused again. Do not retry.
    case refused(status: Int, description: String)
    /// 401/404 (a wrong or revoked bot token: every send fails until an operator fixes it), a
    /// 5xx, a timeout, a lost connection. May succeed later; the message may or may not have
    /// been delivered when the answer was lost.
    case unavailable(String)

    public var isRetriable: Bool {
        switch self {
        case .rateLimited, .unavailable: return true
        case .refused: return false
        }
    }

    /// Refused because of the chat (blocked, gone, not found): final for this recipient. A 400
    /// about the message itself (entities Telegram cannot parse) is not: the template needs a fix.
    public var isRecipientRefusal: Bool {
        guard case .refused(let status, let description) = self else { return false }
        let text = description.lowercased()
        return status == 403 || text.contains("chat not found") || text.contains("user is deactivated")
            || text.contains("peer_id_invalid")
    }

    public var description: String {
        switch self {
        case .rateLimited(let seconds, let description): return "Telegram rate limit (retry after \(seconds) s): \(description)"
        case .refused(let status, let description): return "Telegram refused the message (\(status)): \(description)"
        case .unavailable(let message): return "Telegram unavailable: \(message)"
        }
    }
}

/// What Telegram answered for a sent message.
public struct TelegramSent: Sendable, Equatable {
    public var messageId: Int64
}

/// The Bot API's `sendMessage` over libcurl. The token is part of the URL, so neither the URL
/// nor anything holding it appears in an error or a description.
public struct TelegramClient: Sendable, CustomStringConvertible {
    /// The bare base (`https://api.telegram.org`), or a simulator.
    public let baseURL: String
    private let token: String
    private let http: CurlClient
    private let timeout: Double

    public init(baseURL: String, token: String, http: CurlClient = CurlClient(), timeout: Double = 15) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.http = http
        self.timeout = timeout
    }

    public var description: String { "TelegramClient(\(baseURL), token: <redacted>)" }

    /// Sends `text` in HTML parse mode, without a link preview.
    public func sendMessage(chatId: String, html text: String, disableNotification: Bool = false) async throws -> TelegramSent {
        var body: [String: Any] = [
            "text": text, "parse_mode": "HTML", "link_preview_options": ["is_disabled": true],
            "disable_notification": disableNotification,
        ]
        // A numeric id goes as a number (as the API documents it), an @channel as a string.
        body["chat_id"] = Int64(chatId).map { $0 as Any } ?? chatId
        let request = HTTPRequest(
            method: "POST", url: "\(baseURL)/bot\(token)/sendMessage", headers: [("Content-Type", "application/json")],
            body: Array(try JSONSerialization.data(withJSONObject: body)), connectTimeout: 5, timeout: timeout)
        let response: HTTPResponse
        do {
            response = try await http.send(request)
        } catch let error as CurlError {
            // curl's message never contains the URL, but say only what failed.
            throw TelegramError.unavailable("curl error \(error.code): \(error.message)")
        }
        let reply = try? JSONDecoder().decode(Reply.self, from: Data(response.body))
        let description = reply?.description ?? "HTTP \(response.status)"
        switch response.status {
        case 200..<300:
            guard let reply, reply.ok, let messageId = reply.result?.messageId else {
                throw TelegramError.unavailable("an answer Telegram would not give: HTTP \(response.status) without ok/result")
            }
            return TelegramSent(messageId: messageId)
        case 429:
            throw TelegramError.rateLimited(retryAfter: max(1, reply?.parameters?.retryAfter ?? 1), description: description)
        case 400, 403:
            throw TelegramError.refused(status: response.status, description: description)
        default:
            throw TelegramError.unavailable("HTTP \(response.status): \(description)")
        }
    }

    private struct Reply: Decodable {
        var ok: Bool
        var result: Result?
        var description: String?
        var parameters: Parameters?

        struct Result: Decodable {
            var messageId: Int64?
            enum CodingKeys: String, CodingKey { case messageId = "message_id" }
        }
        struct Parameters: Decodable {
            var retryAfter: Int?
            enum CodingKeys: String, CodingKey { case retryAfter = "retry_after" }
        }
    }
}
