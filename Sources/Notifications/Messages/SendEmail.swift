import Curl
import Foundation
import Messaging

/// `email.send`: send one notification's email delivery (rendered when it was recorded).
public struct SendEmail: MessageBody, Equatable {
    public static let messageType = "email.send"
    public static let exchange = Exchange.commands

    public var deliveryId: UUID
    public var customerId: String

    public init(deliveryId: UUID, customerId: String) {
        self.deliveryId = deliveryId
        self.customerId = customerId
    }

    static func id(_ delivery: UUID) -> UUID { MessageID.derive("send", delivery.uuidString.lowercased()) }
}

/// Sends over SMTP (libcurl) with a `Message-ID` derived from the delivery, so a resend after a
/// crash between the send and its record is recognisable as the same message. A 5xx reply to
/// RCPT TO (an unknown recipient) is recorded failed and not retried; anything else (a 4xx, a
/// refused connection, a timeout, TLS or login trouble, a relay that refuses us) is retried
/// through the delay tiers, then dead-lettered for a replay once an operator fixed it.
struct SendEmailHandler: PreparingMessageHandler {
    let run: DeliveryRun
    let mail: CurlClient
    let smtp: SMTPConfiguration
    let from: String
    let fromName: String

    init(run: DeliveryRun, mail: CurlClient = CurlClient(), smtp: SMTPConfiguration, from: String, fromName: String) {
        self.run = run
        self.mail = mail
        self.smtp = smtp
        self.from = from
        self.fromName = fromName
    }

    /// `<delivery id>@<the sender's domain>`.
    func messageID(_ delivery: UUID) -> String {
        let domain = from.split(separator: "@").last.map(String.init) ?? "armada.invalid"
        return "\(delivery.uuidString.lowercased())@\(domain)"
    }

    func prepare(_ message: Envelope<SendEmail>, context: PrepareContext) async throws -> Preparation<SendResult> {
        try await run.prepare(message.data.deliveryId, context: context) { [self] delivery in
            let mailMessage = MailMessage(
                from: from, fromName: fromName, to: [delivery.recipient], subject: delivery.subject, text: delivery.text,
                html: delivery.html,
                messageID: messageID(delivery.id), date: Date())
            do {
                try await mail.sendMail(mailMessage, via: smtp)
            } catch let error as SMTPError where error.recipientRefused {
                return .outcome(.refused(error.description))
            }
            return .outcome(.sent(at: Date(), providerId: "<\(messageID(delivery.id))>"))
        }
    }

    func handle(_ message: Envelope<SendEmail>, prepared: SendResult, context: inout HandlerContext) throws -> HandlerOutcome {
        try Deliveries.settle(message.data.deliveryId, as: prepared, on: context.connection)
        return .done
    }
}
