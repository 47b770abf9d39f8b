import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Telegram's Bot API (`sendMessage`) on loopback, in the shapes of PROVIDERS.md ("Telegram Bot
/// API"): for tests and the local stack, never for production.
///
/// Never kinder than Telegram: a wrong token is 401, formatting is parsed as strictly as
/// Telegram's own parsers, a chat gets at most `chatLimitPerSecond` messages and the bot at most
/// `globalLimitPerSecond` in any second (429 with `retry_after`), and a delivered message is not
/// deduplicated. Faults are scripted through `POST /_sim/faults`; `GET /_sim/messages` shows what
/// was delivered and what was refused. The token is part of the path, so neither is ever logged.
struct TelegramSimSettings: Sendable {
    var port: Int
    /// Bot tokens the simulator accepts (`<bot id>:<secret>`), each its own bot.
    var tokens: [String]
    /// Messages one chat may receive in any second (about 1 at Telegram).
    var chatLimitPerSecond: Int
    /// Messages the bot may send in any second, all chats together (about 30 at Telegram).
    var globalLimitPerSecond: Int

    /// SIM_TELEGRAM_PORT, SIM_TELEGRAM_TOKENS (comma-separated), SIM_TELEGRAM_CHAT_LIMIT_PER_SECOND,
    /// SIM_TELEGRAM_GLOBAL_LIMIT_PER_SECOND.
    init(environment: [String: String]) {
        port = Int(environment["SIM_TELEGRAM_PORT"] ?? "") ?? 8093
        tokens = (environment["SIM_TELEGRAM_TOKENS"] ?? "123456:sim-bot-token-not-secret").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
        chatLimitPerSecond = Int(environment["SIM_TELEGRAM_CHAT_LIMIT_PER_SECOND"] ?? "") ?? 1
        globalLimitPerSecond = Int(environment["SIM_TELEGRAM_GLOBAL_LIMIT_PER_SECOND"] ?? "") ?? 30
    }
}

/// A request context that can drop the connection, which is how a lost response looks to a
/// client (Hummingbird's basic context does not keep the channel).
struct TelegramRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// Closes the TCP connection without writing a response.
    let dropConnection: @Sendable () async -> Void

    init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        let channel = source.channel
        dropConnection = {
            channel.close(mode: .all, promise: nil)
            try? await channel.closeFuture.get()
        }
    }
}

/// `chat_id` as Telegram reads it: a number (users positive, groups negative) or a public
/// `@username`.
enum TelegramChat: Sendable, Hashable {
    case id(Int64)
    case username(String)

    /// From a request's or a control call's string; nil when it can name no chat (Telegram
    /// answers "chat not found").
    init?(_ raw: String) {
        let trimmed = raw.trimmingCharacters(in: .whitespaces)
        if let number = Int64(trimmed) {
            self = .id(number)
        } else if trimmed.hasPrefix("@"), trimmed.count > 1,
            trimmed.unicodeScalars.dropFirst().allSatisfy({ $0 == "_" || TelegramMarkup.isAlphanumeric($0) })
        {
            self = .username(trimmed)
        } else {
            return nil
        }
    }

    /// How the simulator names the chat in faults, `/_sim/messages` and logs.
    var key: String {
        switch self {
        case .id(let number): return String(number)
        case .username(let name): return name
        }
    }
}

/// A `sendMessage` the simulator read and validated.
struct TelegramOutgoing: Sendable {
    var chat: TelegramChat
    /// As received.
    var text: String
    /// What the recipient sees: tags stripped, entities decoded, trimmed.
    var shownText: String
    var parseMode: String?
    var disableNotification: Bool
    /// When the request arrived (before any scripted delay).
    var receivedAt: Date
    /// Arrival order, for `/_sim/messages`.
    var sequence: Int
}

/// An error answer as Telegram gives it: `{"ok":false,"error_code":N,"description":"..."}`, with
/// `parameters.retry_after` on 429.
struct TelegramFailure: Error, Sendable {
    var status: HTTPResponse.Status
    var description: String
    var retryAfter: Int? = nil
    /// An HTML page from Telegram's front proxy instead of the API's JSON.
    var html = false

    static func badRequest(_ reason: String) -> TelegramFailure {
        TelegramFailure(status: .badRequest, description: "Bad Request: \(reason)")
    }
    static func tooManyRequests(retryAfter seconds: Int) -> TelegramFailure {
        TelegramFailure(status: .tooManyRequests, description: "Too Many Requests: retry after \(seconds)", retryAfter: seconds)
    }
    static let unauthorized = TelegramFailure(status: .unauthorized, description: "Unauthorized")
    static let notFound = TelegramFailure(status: .notFound, description: "Not Found")
    /// Permanent: the user blocked the bot.
    static let blocked = TelegramFailure(status: .forbidden, description: "Forbidden: bot was blocked by the user")
    /// Permanent: no such chat, or the bot was never in it.
    static let chatNotFound = TelegramFailure.badRequest("chat not found")
    static let serverError = TelegramFailure(status: .internalServerError, description: "Internal Server Error")
    static let badGateway = TelegramFailure(status: .badGateway, description: "Bad Gateway", html: true)
}

/// Scripted faults, by their `/_sim/faults` names.
enum TelegramFaultKind: String, Sendable, CaseIterable {
    /// 429 with `retry_after` = the fault's `retryAfter`.
    case tooManyRequests = "too-many-requests"
    /// 403 "Forbidden: bot was blocked by the user".
    case blocked
    /// 400 "Bad Request: chat not found".
    case chatNotFound = "chat-not-found"
    /// 500 in the API's JSON.
    case serverError = "server-error"
    /// 502 with nginx's HTML page, as Telegram's front proxy answers when the API is down.
    case badGateway = "bad-gateway"
    /// Waits `delayMs`, then answers normally.
    case slow
    /// Delivers the message, then drops the connection: the caller never learns it was sent.
    case loseResponse = "lose-response"
}

struct TelegramFault: Sendable {
    /// Only this chat's requests (a `TelegramChat.key`); nil: any chat.
    var chat: String?
    var kind: TelegramFaultKind
    /// Requests it still applies to; negative: until `DELETE /_sim/faults`.
    var remaining: Int
    var retryAfter: Int
    var delayMs: Int
}

/// `POST /_sim/faults`'s body: `{"chatId": "123" | 123 | null, "kind": "...", "count": N,
/// "retryAfter": S, "delayMs": M}`, everything but `kind` optional.
struct TelegramFaultRequest: Decodable, Sendable {
    var chatId: String?
    var kind: String
    var count: Int?
    var retryAfter: Int?
    var delayMs: Int?

    enum CodingKeys: String, CodingKey {
        case chatId, kind, count, retryAfter, delayMs
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let text = try? container.decode(String.self, forKey: .chatId) {
            chatId = text
        } else if let number = try? container.decode(Int64.self, forKey: .chatId) {
            chatId = String(number)
        } else if (try? container.decodeNil(forKey: .chatId)) ?? true {
            chatId = nil
        } else {
            throw DecodingError.dataCorruptedError(
                forKey: .chatId, in: container, debugDescription: "chatId must be a string or an integer")
        }
        kind = try container.decode(String.self, forKey: .kind)
        count = try container.decodeIfPresent(Int.self, forKey: .count)
        retryAfter = try container.decodeIfPresent(Int.self, forKey: .retryAfter)
        delayMs = try container.decodeIfPresent(Int.self, forKey: .delayMs)
    }
}

/// `sendMessage`'s JSON body, read as leniently as the Bot API reads it (a field of the wrong
/// type is treated as missing) so that the refusal is Telegram's, not a decoding error.
struct TelegramSendMessageBody: Decodable, Sendable {
    enum ChatField: Sendable {
        case missing
        case number(Int64)
        case string(String)
        case invalid
    }

    var chat: ChatField = .missing
    var text: String?
    var parseMode: String?
    var disableNotification = false

    enum CodingKeys: String, CodingKey {
        case chatId = "chat_id"
        case text
        case parseMode = "parse_mode"
        case disableNotification = "disable_notification"
    }

    init() {}

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if container.contains(.chatId) {
            if let number = try? container.decode(Int64.self, forKey: .chatId) {
                chat = .number(number)
            } else if let text = try? container.decode(String.self, forKey: .chatId) {
                chat = .string(text)
            } else if let isNull = try? container.decodeNil(forKey: .chatId), isNull {
                chat = .missing
            } else {
                chat = .invalid
            }
        }
        text = try? container.decode(String.self, forKey: .text)
        parseMode = try? container.decode(String.self, forKey: .parseMode)
        disableNotification = (try? container.decode(Bool.self, forKey: .disableNotification)) ?? false
        // link_preview_options {is_disabled} and the rest are accepted and have no effect here.
    }
}

actor TelegramWorld {
    struct Delivered: Sendable {
        var message: TelegramOutgoing
        var messageId: Int64
        /// The chat's numeric id as Telegram answers it (an `@username` resolves to one).
        var chatId: Int64
        var deliveredAt: Date
    }

    struct Rejected: Sendable {
        var chat: String?
        var status: Int
        var description: String
        var receivedAt: Date
        var sequence: Int
    }

    /// What became of one `sendMessage`.
    enum Outcome: Sendable {
        case delivered(Delivered)
        /// Delivered, but the answer must never reach the caller.
        case lost(Delivered)
        case failed(TelegramFailure)
        /// Wait this long, then send again without faults.
        case delay(milliseconds: Int)
    }

    let settings: TelegramSimSettings
    private var faults: [TelegramFault] = []
    private var delivered: [Delivered] = []
    private var rejected: [Rejected] = []
    /// Telegram numbers messages per chat.
    private var lastMessageId: [String: Int64] = [:]
    /// When messages were accepted within the last second, per chat and overall.
    private var acceptedPerChat: [String: [Date]] = [:]
    private var acceptedOverall: [Date] = []
    /// The numeric ids `@username` chats resolve to.
    private var usernameIds: [String: Int64] = [:]
    private var arrivals = 0

    init(settings: TelegramSimSettings) { self.settings = settings }

    /// The request's place in arrival order.
    func arrive() -> Int {
        arrivals += 1
        return arrivals
    }

    /// Applies the first matching fault (when `applyFaults`), then the rate limits, then delivers.
    func send(_ message: TelegramOutgoing, applyFaults: Bool, now: Date) -> Outcome {
        if applyFaults, let fault = takeFault(for: message.chat.key) {
            switch fault.kind {
            case .slow: return .delay(milliseconds: fault.delayMs)
            case .loseResponse: return .lost(record(message, at: now))
            case .tooManyRequests: return fail(message, .tooManyRequests(retryAfter: fault.retryAfter))
            case .blocked: return fail(message, .blocked)
            case .chatNotFound: return fail(message, .chatNotFound)
            case .serverError: return fail(message, .serverError)
            case .badGateway: return fail(message, .badGateway)
            }
        }
        if let limited = overLimit(message.chat.key, now: now) { return fail(message, limited) }
        return .delivered(record(message, at: now))
    }

    /// Records a request answered with an error before it reached `send`.
    func reject(_ failure: TelegramFailure, chat: String?, receivedAt: Date, sequence: Int) {
        rejected.append(
            Rejected(chat: chat, status: failure.status.code, description: failure.description, receivedAt: receivedAt, sequence: sequence))
    }

    func addFault(_ fault: TelegramFault) { faults.append(fault) }
    func clearFaults() { faults = [] }

    /// Message ids and the rate limits' memory are kept: Telegram forgets neither.
    func clearMessages() {
        delivered = []
        rejected = []
    }

    /// Delivered and refused requests in arrival order, of one chat or all.
    func listing(chat: String?) -> (messages: [Delivered], rejected: [Rejected]) {
        let messages = delivered.filter { chat == nil || $0.message.chat.key == chat }.sorted { $0.message.sequence < $1.message.sequence }
        let refused = rejected.filter { chat == nil || $0.chat == chat }.sorted { $0.sequence < $1.sequence }
        return (messages, refused)
    }

    /// The first matching unspent fault, spending one of its uses.
    private func takeFault(for chat: String) -> TelegramFault? {
        guard let index = faults.firstIndex(where: { $0.chat == nil || $0.chat == chat }) else { return nil }
        let fault = faults[index]
        if fault.remaining > 0 {
            faults[index].remaining -= 1
            if faults[index].remaining == 0 { faults.remove(at: index) }
        }
        return fault
    }

    /// Telegram's flood control: a message is refused when the chat already had its limit of
    /// accepted messages in the last second, or the bot its overall limit.
    private func overLimit(_ chat: String, now: Date) -> TelegramFailure? {
        acceptedOverall.removeAll { now.timeIntervalSince($0) >= 1 }
        let recent = (acceptedPerChat[chat] ?? []).filter { now.timeIntervalSince($0) < 1 }
        acceptedPerChat[chat] = recent.isEmpty ? nil : recent
        if recent.count >= settings.chatLimitPerSecond || acceptedOverall.count >= settings.globalLimitPerSecond {
            return .tooManyRequests(retryAfter: 1)
        }
        return nil
    }

    private func record(_ message: TelegramOutgoing, at now: Date) -> Delivered {
        let key = message.chat.key
        let id = (lastMessageId[key] ?? 0) + 1
        lastMessageId[key] = id
        acceptedPerChat[key, default: []].append(now)
        acceptedOverall.append(now)
        let entry = Delivered(message: message, messageId: id, chatId: numericId(message.chat), deliveredAt: now)
        delivered.append(entry)
        return entry
    }

    private func fail(_ message: TelegramOutgoing, _ failure: TelegramFailure) -> Outcome {
        reject(failure, chat: message.chat.key, receivedAt: message.receivedAt, sequence: message.sequence)
        return .failed(failure)
    }

    /// A channel's id as Telegram gives it (-100…), stable for the simulator's lifetime.
    private func numericId(_ chat: TelegramChat) -> Int64 {
        switch chat {
        case .id(let number): return number
        case .username(let name):
            if let known = usernameIds[name] { return known }
            let id = -1_001_000_000_000 - Int64(usernameIds.count)
            usernameIds[name] = id
            return id
        }
    }
}

struct TelegramSimulator: Sendable {
    let settings: TelegramSimSettings
    let world: TelegramWorld
    let logger: Logger

    init(settings: TelegramSimSettings, logger: Logger) {
        self.settings = settings
        self.world = TelegramWorld(settings: settings)
        self.logger = logger
    }

    /// What a request's body became: a message to send, or Telegram's refusal.
    private enum Reading {
        case message(TelegramOutgoing)
        case refused(TelegramFailure, chat: String?)
    }

    func router() -> Router<TelegramRequestContext> {
        let router = Router(context: TelegramRequestContext.self)
        router.post("/:bot/sendMessage") { request, context in
            let receivedAt = Date()
            let sequence = await world.arrive()
            let bot: Int64
            switch authorize(context.parameters.get("bot")) {
            case .success(let id): bot = id
            case .failure(let failure): return await refuse(failure, chat: nil, receivedAt: receivedAt, sequence: sequence)
            }
            let body = try await request.body.collect(upTo: 1 << 20)
            let message: TelegramOutgoing
            switch readMessage(body, receivedAt: receivedAt, sequence: sequence) {
            case .message(let parsed): message = parsed
            case .refused(let failure, let chat): return await refuse(failure, chat: chat, receivedAt: receivedAt, sequence: sequence)
            }
            var outcome = await world.send(message, applyFaults: true, now: Date())
            if case .delay(let milliseconds) = outcome {
                try? await Task.sleep(for: .milliseconds(milliseconds))
                outcome = await world.send(message, applyFaults: false, now: Date())
            }
            switch outcome {
            case .delivered(let entry):
                logger.info(
                    "telegram message delivered", metadata: ["chat_id": "\(entry.message.chat.key)", "message_id": "\(entry.messageId)"])
                return sentResponse(entry, bot: bot)
            case .lost(let entry):
                logger.info(
                    "telegram message delivered, response dropped",
                    metadata: ["chat_id": "\(entry.message.chat.key)", "message_id": "\(entry.messageId)"])
                await context.dropConnection()
                return sentResponse(entry, bot: bot)
            case .failed(let failure):
                logger.info(
                    "telegram message refused",
                    metadata: [
                        "chat_id": "\(message.chat.key)", "status": "\(failure.status.code)", "description": "\(failure.description)",
                    ])
                return failureResponse(failure)
            case .delay:
                return failureResponse(.serverError)
            }
        }
        // Any other method: 401 for a wrong token, else 404, as the Bot API answers.
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/:bot/:method", method: method) { _, context in
                switch authorize(context.parameters.get("bot")) {
                case .success: return failureResponse(.notFound)
                case .failure(let failure): return failureResponse(failure)
                }
            }
        }
        // The control API for tests and demos.
        router.post("/_sim/faults") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 16)
            let kinds = TelegramFaultKind.allCases.map(\.rawValue).joined(separator: ", ")
            guard let fields = try? JSONDecoder().decode(TelegramFaultRequest.self, from: Data(buffer: body)),
                let kind = TelegramFaultKind(rawValue: fields.kind)
            else {
                return telegramJSON(
                    .badRequest, ["ok": false, "description": "body must be a fault: kind is one of \(kinds)"] as [String: Any])
            }
            var chat: String?
            if let raw = fields.chatId {
                guard let parsed = TelegramChat(raw) else {
                    return telegramJSON(.badRequest, ["ok": false, "description": "chatId names no chat"] as [String: Any])
                }
                chat = parsed.key
            }
            let count = fields.count ?? 1
            await world.addFault(
                TelegramFault(
                    chat: chat, kind: kind, remaining: count == 0 ? 1 : max(-1, count), retryAfter: fields.retryAfter ?? 2,
                    delayMs: max(0, fields.delayMs ?? 2000)))
            return telegramJSON(.ok, ["ok": true])
        }
        router.delete("/_sim/faults") { _, _ in
            await world.clearFaults()
            return telegramJSON(.ok, ["ok": true])
        }
        router.get("/_sim/messages") { request, _ in
            // Hummingbird has already percent-decoded the query.
            let chat = request.uri.queryParameters.get("chat_id").map { (raw: String) -> String in TelegramChat(raw)?.key ?? raw }
            let listing = await world.listing(chat: chat)
            return telegramJSON(
                .ok,
                [
                    "messages": listing.messages.map { renderMessage($0) },
                    "rejected": listing.rejected.map { renderRejected($0) },
                ])
        }
        router.delete("/_sim/messages") { _, _ in
            await world.clearMessages()
            return telegramJSON(.ok, ["ok": true])
        }
        router.get("/health") { _, _ in telegramJSON(.ok, ["status": "ok"]) }
        return router
    }

    /// The path's `bot<token>` segment: the bot's id (the digits before ':'), or 404 when the
    /// segment is not `bot…` and 401 when the token is not one of the simulator's.
    private func authorize(_ segment: String?) -> Result<Int64, TelegramFailure> {
        guard let segment, segment.hasPrefix("bot") else { return .failure(.notFound) }
        let raw = String(segment.dropFirst(3))
        let token = raw.removingPercentEncoding ?? raw
        guard settings.tokens.contains(token) else { return .failure(.unauthorized) }
        return .success(Int64(token.prefix { $0 != ":" }) ?? 0)
    }

    /// Reads and validates the body in the Bot API's order: chat_id, text, parse_mode and
    /// entities, length.
    private func readMessage(_ body: ByteBuffer, receivedAt: Date, sequence: Int) -> Reading {
        let fields: TelegramSendMessageBody
        if body.readableBytes == 0 {
            fields = TelegramSendMessageBody()
        } else if let decoded = try? JSONDecoder().decode(TelegramSendMessageBody.self, from: Data(buffer: body)) {
            fields = decoded
        } else {
            return .refused(.badRequest("can't parse JSON object"), chat: nil)
        }
        let chat: TelegramChat
        switch fields.chat {
        case .missing: return .refused(.badRequest("chat_id is empty"), chat: nil)
        case .invalid: return .refused(.chatNotFound, chat: nil)
        case .number(let number): chat = .id(number)
        case .string(let raw):
            if raw.trimmingCharacters(in: .whitespaces).isEmpty { return .refused(.badRequest("chat_id is empty"), chat: nil) }
            guard let parsed = TelegramChat(raw) else { return .refused(.chatNotFound, chat: raw) }
            chat = parsed
        }
        guard let text = fields.text, !text.isEmpty else { return .refused(.badRequest("message text is empty"), chat: chat.key) }
        var shown = text
        if let mode = fields.parseMode, !mode.isEmpty {
            let parsed: Result<String, TelegramMarkup.Refusal>
            switch mode.lowercased() {
            case "html": parsed = TelegramMarkup.html(text)
            case "markdownv2": parsed = TelegramMarkup.markdownV2(text)
            case "markdown": parsed = TelegramMarkup.markdown(text)
            default: return .refused(.badRequest("unsupported parse_mode"), chat: chat.key)
            }
            switch parsed {
            case .success(let plain): shown = plain
            case .failure(let refusal): return .refused(.badRequest("can't parse entities: \(refusal.reason)"), chat: chat.key)
            }
        }
        // Telegram trims the text; what is left must not be empty.
        shown = shown.trimmingCharacters(in: .whitespacesAndNewlines)
        if shown.isEmpty { return .refused(.badRequest("message text is empty"), chat: chat.key) }
        // Telegram counts UTF-16 code units after parsing; the raw text's count is never kinder.
        if text.utf16.count > 4096 { return .refused(.badRequest("message is too long"), chat: chat.key) }
        return .message(
            TelegramOutgoing(
                chat: chat, text: text, shownText: shown, parseMode: fields.parseMode, disableNotification: fields.disableNotification,
                receivedAt: receivedAt, sequence: sequence))
    }

    private func refuse(_ failure: TelegramFailure, chat: String?, receivedAt: Date, sequence: Int) async -> Response {
        await world.reject(failure, chat: chat, receivedAt: receivedAt, sequence: sequence)
        logger.info(
            "telegram request refused",
            metadata: ["chat_id": "\(chat ?? "-")", "status": "\(failure.status.code)", "description": "\(failure.description)"])
        return failureResponse(failure)
    }

    /// `{"ok":true,"result":Message}` with the fields a sent text message has.
    private func sentResponse(_ entry: TelegramWorld.Delivered, bot: Int64) -> Response {
        var chat: [String: Any] = ["id": entry.chatId]
        switch entry.message.chat {
        case .username(let name):
            chat["type"] = "channel"
            chat["title"] = String(name.dropFirst())
            chat["username"] = String(name.dropFirst())
        case .id(let number):
            let type: String = number > 0 ? "private" : number <= -1_000_000_000_000 ? "supergroup" : "group"
            chat["type"] = type
        }
        let from: [String: Any] = ["id": bot, "is_bot": true, "first_name": "Armada Sim", "username": "armada_sim_bot"]
        let result: [String: Any] = [
            "message_id": entry.messageId, "from": from, "chat": chat, "date": Int64(entry.deliveredAt.timeIntervalSince1970),
            "text": entry.message.shownText,
        ]
        return telegramJSON(.ok, ["ok": true, "result": result] as [String: Any])
    }

    private func failureResponse(_ failure: TelegramFailure) -> Response {
        if failure.html {
            return Response(
                status: failure.status, headers: [.contentType: "text/html"],
                body: .init(byteBuffer: ByteBuffer(string: Self.badGatewayPage)))
        }
        var body: [String: Any] = ["ok": false, "error_code": failure.status.code, "description": failure.description]
        if let seconds = failure.retryAfter { body["parameters"] = ["retry_after": seconds] }
        return telegramJSON(failure.status, body)
    }

    private func renderMessage(_ entry: TelegramWorld.Delivered) -> [String: Any] {
        let message = entry.message
        let milliseconds = telegramMilliseconds(message.receivedAt)
        return [
            "chatId": message.chat.key, "messageId": entry.messageId, "text": message.text,
            "parseMode": message.parseMode.map { $0 as Any } ?? NSNull(), "disableNotification": message.disableNotification,
            "receivedAt": telegramISO(milliseconds: milliseconds), "receivedAtMs": milliseconds,
        ]
    }

    private func renderRejected(_ entry: TelegramWorld.Rejected) -> [String: Any] {
        [
            "chatId": entry.chat.map { $0 as Any } ?? NSNull(), "status": entry.status, "description": entry.description,
            "receivedAtMs": telegramMilliseconds(entry.receivedAt),
        ]
    }

    /// What Telegram's nginx front answers when the Bot API behind it is down.
    static let badGatewayPage =
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
}

/// Telegram's formatting modes, parsed as strictly as Telegram's own parsers (tdlib's
/// MessageEntity.cpp, whose error messages these repeat): each returns the text the recipient
/// sees, or the reason for "Bad Request: can't parse entities: …".
enum TelegramMarkup {
    struct Refusal: Error {
        var reason: String
    }

    /// The tags the Bot API's HTML mode knows (custom emoji left out).
    static let htmlTags: Set<String> = [
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "tg-spoiler", "span", "blockquote",
    ]

    /// HTML mode: only the known tags, properly nested; `<a>` needs `href`, `<span>` is only
    /// `class="tg-spoiler"`; every `<` starts a tag and every `&` an entity (`&lt;` `&gt;` `&amp;`
    /// `&quot;` `&#NNN;` `&#xHH;`), which is what the Bot API documentation demands.
    static func html(_ text: String) -> Result<String, Refusal> {
        let s = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var open: [String] = []
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "&" {
                guard let decoded = entity(s, i) else {
                    return fail("Character '&' at byte offset \(byteOffset(s, i)) must begin an HTML entity; use &amp;")
                }
                out.append(decoded.scalar)
                i = decoded.next
                continue
            }
            guard c == "<" else {
                out.append(c)
                i += 1
                continue
            }
            let begin = i
            i += 1
            if i < s.count, s[i] == "/" {
                // An end tag closes the innermost open tag; `</>` is allowed.
                guard let expected = open.last else { return fail("Unexpected end tag at byte offset \(byteOffset(s, begin))") }
                i += 1
                let nameStart = i
                while i < s.count, !isSpace(s[i]), s[i] != ">" { i += 1 }
                let name = string(s[nameStart..<i]).lowercased()
                while i < s.count, isSpace(s[i]) { i += 1 }
                guard i < s.count, s[i] == ">" else { return fail("Unclosed end tag at byte offset \(byteOffset(s, begin))") }
                i += 1
                if !name.isEmpty, name != expected {
                    return fail(
                        "Unmatched end tag at byte offset \(byteOffset(s, begin)), expected \"</\(expected)>\", found \"</\(name)>\"")
                }
                open.removeLast()
                continue
            }
            let nameStart = i
            while i < s.count, !isSpace(s[i]), s[i] != ">" { i += 1 }
            guard i < s.count else { return fail("Unclosed start tag at byte offset \(byteOffset(s, begin))") }
            let name = string(s[nameStart..<i]).lowercased()
            guard htmlTags.contains(name) else { return fail("Unsupported start tag \"\(name)\" at byte offset \(byteOffset(s, begin))") }
            var attributes: [String: String] = [:]
            while true {
                while i < s.count, isSpace(s[i]) { i += 1 }
                guard i < s.count else { return fail("Unclosed start tag \"\(name)\" at byte offset \(byteOffset(s, begin))") }
                if s[i] == ">" {
                    i += 1
                    break
                }
                let attributeStart = i
                while i < s.count, !isSpace(s[i]), s[i] != "=", s[i] != ">" { i += 1 }
                let attribute = string(s[attributeStart..<i]).lowercased()
                if attribute.isEmpty {
                    return fail("Empty attribute name in the tag \"\(name)\" at byte offset \(byteOffset(s, begin))")
                }
                while i < s.count, isSpace(s[i]) { i += 1 }
                guard i < s.count, s[i] == "=" else {
                    if name == "blockquote", attribute == "expandable" {
                        attributes[attribute] = ""
                        continue
                    }
                    return fail(
                        "Expected equal sign in declaration of an attribute of the tag \"\(name)\" at byte offset \(byteOffset(s, begin))")
                }
                i += 1
                while i < s.count, isSpace(s[i]) { i += 1 }
                guard i < s.count else { return fail("Unclosed start tag \"\(name)\" at byte offset \(byteOffset(s, begin))") }
                var value = String.UnicodeScalarView()
                if s[i] == "\"" || s[i] == "'" {
                    // A quoted value; an `&` that starts no entity is kept, as Telegram keeps it in URLs.
                    let quote = s[i]
                    i += 1
                    while i < s.count, s[i] != quote {
                        if s[i] == "&", let decoded = entity(s, i) {
                            value.append(decoded.scalar)
                            i = decoded.next
                        } else {
                            value.append(s[i])
                            i += 1
                        }
                    }
                    guard i < s.count else { return fail("Unclosed start tag at byte offset \(byteOffset(s, begin))") }
                    i += 1
                    attributes[attribute] = String(value)
                } else {
                    // A name token: letters, digits, periods and hyphens, case-insensitive.
                    let tokenStart = i
                    while i < s.count, isAlphanumeric(s[i]) || s[i] == "." || s[i] == "-" {
                        value.append(s[i])
                        i += 1
                    }
                    if i < s.count, !isSpace(s[i]), s[i] != ">" {
                        return fail("Unexpected end of name token at byte offset \(byteOffset(s, tokenStart))")
                    }
                    attributes[attribute] = String(value).lowercased()
                }
            }
            if name == "a", attributes["href"] == nil {
                return fail("Tag \"a\" must have an href attribute at byte offset \(byteOffset(s, begin))")
            }
            if name == "span", attributes["class"] != "tg-spoiler" {
                return fail("Tag \"span\" must have class \"tg-spoiler\" at byte offset \(byteOffset(s, begin))")
            }
            open.append(name)
        }
        if let unclosed = open.last { return fail("Can't find end tag corresponding to start tag \"\(unclosed)\"") }
        return .success(String(out))
    }

    private enum Entity: String {
        case bold = "Bold", italic = "Italic", underline = "Underline", strikethrough = "Strikethrough", spoiler = "Spoiler"
        case code = "Code", pre = "Pre", textURL = "TextUrl", customEmoji = "CustomEmoji"
    }

    /// Characters MarkdownV2 reserves: outside code each must be escaped with '\' unless it
    /// opens or closes an entity.
    private static let reservedV2: Set<Unicode.Scalar> = [
        "_", "*", "[", "]", "(", ")", "~", "`", ">", "#", "+", "-", "=", "|", "{", "}", ".", "!",
    ]

    /// MarkdownV2: `*bold*`, `_italic_`, `__underline__`, `~strike~`, `||spoiler||`, `[text](url)`,
    /// `` `code` ``, ```` ```pre``` ````, `>` quotes; every other reserved character escaped.
    static func markdownV2(_ text: String) -> Result<String, Refusal> {
        let s = Array(text.unicodeScalars)
        func at(_ index: Int) -> Unicode.Scalar? { index < s.count ? s[index] : nil }
        var out = String.UnicodeScalarView()
        var open: [(entity: Entity, start: Int)] = []
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "\\", let next = at(i + 1), next.value > 0, next.value <= 126 {
                out.append(next)
                i += 2
                continue
            }
            let inCode = open.last.map { $0.entity == .code || $0.entity == .pre } ?? false
            if !inCode, c == ">", i == 0 || s[i - 1] == "\n" {
                // A quoted line: the marker is not shown.
                i += 1
                continue
            }
            let special = inCode ? c == "`" : reservedV2.contains(c)
            guard special else {
                out.append(c)
                i += 1
                continue
            }
            if let top = open.last, closes(top.entity, s, i) {
                open.removeLast()
                switch top.entity {
                case .underline, .spoiler: i += 2
                case .pre: i += 3
                case .textURL, .customEmoji:
                    i += 1
                    var url = ""
                    if at(i) == "(" {
                        let urlStart = i
                        i += 1
                        while i < s.count, s[i] != ")" {
                            if s[i] == "\\", let next = at(i + 1), next.value > 0, next.value <= 126 {
                                url.unicodeScalars.append(next)
                                i += 2
                            } else {
                                url.unicodeScalars.append(s[i])
                                i += 1
                            }
                        }
                        guard i < s.count else { return fail("Can't find end of a URL at byte offset \(byteOffset(s, urlStart))") }
                        i += 1
                    }
                    if top.entity == .customEmoji, !url.hasPrefix("tg://emoji?id=") {
                        return fail("Custom emoji entity must contain a tg://emoji URL")
                    }
                default: i += 1
                }
                continue
            }
            let start = i
            switch c {
            case "_" where at(i + 1) == "_":
                open.append((entity: .underline, start: start))
                i += 2
            case "_":
                open.append((entity: .italic, start: start))
                i += 1
            case "*":
                open.append((entity: .bold, start: start))
                i += 1
            case "~":
                open.append((entity: .strikethrough, start: start))
                i += 1
            case "|" where at(i + 1) == "|":
                open.append((entity: .spoiler, start: start))
                i += 2
            case "[":
                open.append((entity: .textURL, start: start))
                i += 1
            case "!" where at(i + 1) == "[":
                open.append((entity: .customEmoji, start: start))
                i += 2
            case "`" where at(i + 1) == "`" && at(i + 2) == "`":
                open.append((entity: .pre, start: start))
                i = skipPreHeader(s, from: i + 3)
            case "`":
                open.append((entity: .code, start: start))
                i += 1
            default:
                return fail("Character '\(c)' is reserved and must be escaped with the preceding '\\'")
            }
        }
        if let unclosed = open.last {
            return fail("Can't find end of \(unclosed.entity.rawValue) entity at byte offset \(byteOffset(s, unclosed.start))")
        }
        return .success(String(out))
    }

    /// Legacy Markdown: `*bold*`, `_italic_`, `` `code` ``, ```` ```pre``` ````, `[text](url)`,
    /// not nested; a marker without its end is refused.
    static func markdown(_ text: String) -> Result<String, Refusal> {
        let s = Array(text.unicodeScalars)
        let markers: Set<Unicode.Scalar> = ["_", "*", "`", "["]
        var out = String.UnicodeScalarView()
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "\\", i + 1 < s.count, markers.contains(s[i + 1]) {
                out.append(s[i + 1])
                i += 2
                continue
            }
            guard markers.contains(c) else {
                out.append(c)
                i += 1
                continue
            }
            let begin = i
            let end: Unicode.Scalar = c == "[" ? "]" : c
            var pre = false
            i += 1
            if c == "`", i + 1 < s.count, s[i] == "`", s[i + 1] == "`" {
                pre = true
                i = skipPreHeader(s, from: i + 2)
            }
            while i < s.count {
                if s[i] == end, !pre || (i + 2 < s.count && s[i + 1] == "`" && s[i + 2] == "`") { break }
                out.append(s[i])
                i += 1
            }
            guard i < s.count else { return fail("Can't find end of the entity starting at byte offset \(byteOffset(s, begin))") }
            i += pre ? 3 : 1
            if c == "[", i < s.count, s[i] == "(" {
                while i < s.count, s[i] != ")" { i += 1 }
                i += 1
            }
        }
        return .success(String(out))
    }

    private static func closes(_ entity: Entity, _ s: [Unicode.Scalar], _ i: Int) -> Bool {
        let next: Unicode.Scalar? = i + 1 < s.count ? s[i + 1] : nil
        let afterNext: Unicode.Scalar? = i + 2 < s.count ? s[i + 2] : nil
        switch entity {
        case .bold: return s[i] == "*"
        case .italic: return s[i] == "_" && next != "_"
        case .underline: return s[i] == "_" && next == "_"
        case .strikethrough: return s[i] == "~"
        case .spoiler: return s[i] == "|" && next == "|"
        case .code: return s[i] == "`"
        case .pre: return s[i] == "`" && next == "`" && afterNext == "`"
        case .textURL, .customEmoji: return s[i] == "]"
        }
    }

    /// After a pre block's opening backticks: skips a language name that is followed by
    /// whitespace, then one line break.
    private static func skipPreHeader(_ s: [Unicode.Scalar], from start: Int) -> Int {
        var i = start
        var end = i
        while end < s.count, !isSpace(s[end]), s[end] != "`" { end += 1 }
        if end != i, end < s.count, s[end] != "`" { i = end }
        if i < s.count, s[i] == "\n" || s[i] == "\r" {
            if i + 1 < s.count, s[i + 1] == "\n" || s[i + 1] == "\r", s[i] != s[i + 1] { i += 2 } else { i += 1 }
        }
        return i
    }

    /// `&lt;` `&gt;` `&amp;` `&quot;` `&#NNN;` `&#xHH;` at `start`: the character and where the text
    /// goes on; nil when it is none of them.
    private static func entity(_ s: [Unicode.Scalar], _ start: Int) -> (scalar: Unicode.Scalar, next: Int)? {
        var i = start + 1
        var value: UInt32 = 0
        if i < s.count, s[i] == "#" {
            i += 1
            let hex = i < s.count && (s[i] == "x" || s[i] == "X")
            if hex { i += 1 }
            let digitsStart = i
            while i < s.count, let digit = digitValue(s[i], hex: hex) {
                value = value * (hex ? 16 : 10) + digit
                if value > 0x10FFFF { return nil }
                i += 1
            }
            if i == digitsStart { return nil }
        } else {
            let nameStart = i
            while i < s.count, isLetter(s[i]) { i += 1 }
            switch string(s[nameStart..<i]) {
            case "lt": value = 0x3C
            case "gt": value = 0x3E
            case "amp": value = 0x26
            case "quot": value = 0x22
            default: return nil
            }
        }
        guard i < s.count, s[i] == ";", value != 0, let scalar = Unicode.Scalar(value) else { return nil }
        return (scalar, i + 1)
    }

    private static func fail(_ reason: String) -> Result<String, Refusal> { .failure(Refusal(reason: reason)) }

    private static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    /// Telegram reports positions in UTF-8 bytes.
    private static func byteOffset(_ s: [Unicode.Scalar], _ index: Int) -> Int {
        s[..<index].reduce(0) { total, scalar in
            total + (scalar.value < 0x80 ? 1 : scalar.value < 0x800 ? 2 : scalar.value < 0x10000 ? 3 : 4)
        }
    }

    private static func isSpace(_ c: Unicode.Scalar) -> Bool {
        c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0B}" || c == "\u{0C}"
    }

    private static func isLetter(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x41...0x5A, 0x61...0x7A: return true
        default: return false
        }
    }

    /// ASCII letters and digits.
    static func isAlphanumeric(_ c: Unicode.Scalar) -> Bool {
        isLetter(c) || (0x30...0x39).contains(c.value)
    }

    private static func digitValue(_ c: Unicode.Scalar, hex: Bool) -> UInt32? {
        switch c.value {
        case 0x30...0x39: return c.value - 0x30
        case 0x61...0x66 where hex: return c.value - 0x61 + 10
        case 0x41...0x46 where hex: return c.value - 0x41 + 10
        default: return nil
        }
    }
}

private func telegramMilliseconds(_ date: Date) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
}

/// ISO 8601 in UTC with milliseconds (`2025-01-31T12:00:00.123Z`), from the same milliseconds
/// as `receivedAtMs` so the two always agree.
private func telegramISO(milliseconds: Int64) -> String {
    let formatter = ISO8601DateFormatter()
    let seconds = formatter.string(from: Date(timeIntervalSince1970: TimeInterval(milliseconds / 1000)))
    let fraction = String(milliseconds % 1000)
    return String(seconds.dropLast()) + "." + String(repeating: "0", count: 3 - fraction.count) + fraction + "Z"
}

private func telegramJSON(_ status: HTTPResponse.Status, _ value: Any) -> Response {
    let data = (try? JSONSerialization.data(withJSONObject: value)) ?? Data("{}".utf8)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
