import Foundation
import Messaging
import Telegram

/// `telegram.send`: send one notification's Telegram delivery (rendered when it was recorded).
public struct SendTelegram: MessageBody, Equatable {
    public static let messageType = "telegram.send"
    public static let exchange = Exchange.commands

    public var deliveryId: UUID
    public var customerId: String

    public init(deliveryId: UUID, customerId: String) {
        self.deliveryId = deliveryId
        self.customerId = customerId
    }

    static func id(_ delivery: UUID) -> UUID { MessageID.derive("send", delivery.uuidString.lowercased()) }
}

/// Sends through the Bot API in HTML parse mode, paced (`TelegramPacing`) across every notifier
/// process. A 429 pauses the chat for `retry_after` and runs again after it without spending a
/// retry; 403 (blocked) and 400 "chat not found" are recorded failed and not retried; another
/// 400 (a text Telegram cannot parse: a template's fault) is dead-lettered at once for a replay
/// after the fix; a 5xx, a wrong token or a lost connection is retried through the delay tiers,
/// then dead-lettered.
///
/// Telegram has no idempotency key: a crash after Telegram took a message but before its record
/// commits sends it again once the claim runs out. Once recorded sent, it is never sent again.
struct SendTelegramHandler: PreparingMessageHandler {
    let run: DeliveryRun
    let telegram: TelegramClient
    let pacing: TelegramPacing

    func prepare(_ message: Envelope<SendTelegram>, context: PrepareContext) async throws -> Preparation<SendResult> {
        let pool = run.pool
        return try await run.prepare(message.data.deliveryId, context: context) { [telegram, pacing] delivery in
            let chat = delivery.recipient
            let finish: @Sendable (Int?) async -> Void = { retryAfter in
                // Best effort: a lease not given back runs out by itself.
                try? await pool.transaction { try pacing.finish(chat: chat, delivery: delivery.id, retryAfter: retryAfter, on: $0) }
            }
            switch try await pool.transaction({ try pacing.reserveChat(chat, delivery: delivery.id, on: $0) }) {
            case .later(let wait):
                return .again(after: wait, reason: "pacing: chat \(chat) is not ready", attempted: nil)
            case .slot(let chatWait):
                do {
                    try await Self.sleep(chatWait)
                    try await Self.sleep(try await pool.transaction { try pacing.reserveGlobal(on: $0) })
                } catch {
                    await finish(nil)
                    throw error
                }
            }
            let result: Result<TelegramSent, Error>
            do {
                result = .success(try await telegram.sendMessage(chatId: chat, html: delivery.text))
            } catch {
                result = .failure(error)
            }
            let retryAfter: Int? =
                if case .failure(TelegramError.rateLimited(let seconds, _)) = result { seconds } else { nil }
            await finish(retryAfter)
            switch result {
            case .success(let sent):
                return .outcome(.sent(at: Date(), providerId: String(sent.messageId)))
            case .failure(TelegramError.rateLimited(let seconds, let description)):
                return .again(after: Double(seconds), reason: "Telegram 429", attempted: "429 retry after \(seconds) s: \(description)")
            case .failure(let error as TelegramError) where error.isRecipientRefusal:
                return .outcome(.refused(error.description))
            case .failure(let error):
                throw error
            }
        }
    }

    static func sleep(_ seconds: Double) async throws {
        if seconds > 0 { try await Task.sleep(for: .milliseconds(Int64((seconds * 1000).rounded(.up)))) }
    }

    func handle(_ message: Envelope<SendTelegram>, prepared: SendResult, context: inout HandlerContext) throws -> HandlerOutcome {
        try Deliveries.settle(message.data.deliveryId, as: prepared, on: context.connection)
        return .done
    }
}
