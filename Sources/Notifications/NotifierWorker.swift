import Curl
import Foundation
import Messaging
import OrdersContracts
import Postgres
import Telegram
import WalletContracts

/// The notifier (`armada-notifier`): three consumers in one process.
///
/// - `armada.notifications` (every event): records each customer-facing event once as a
///   notification, rendered in the customer's language, with one queued delivery per channel;
/// - `armada.email` (`email.send`): sends email deliveries over SMTP;
/// - `armada.telegram` (`telegram.send`): sends Telegram deliveries, paced.
///
/// One channel's outage never holds the other back: each has its own queue, retries and dead
/// letters, and recording a notification calls no outside service.
public enum NotifierWorker {
    public static let name = "armada-notifier"

    /// Every event with a notification, by kind (the templates each needs).
    static let kinds: [String] = [
        DepositPaid.templateName, DepositExpired.templateName, WelcomeBonusCredited.templateName, OrderCreated.templateName,
        VPSActive.templateName, ProvisioningFailed.templateName, VPSExpiringSoon.templateName, VPSRenewed.templateName,
        VPSRenewalFailed.templateName, VPSSuspended.templateName, VPSTerminated.templateName,
    ]

    public static func definitions(_ settings: NotifierSettings, _ resources: WorkerResources) throws -> [WorkerDefinition] {
        let templates = try NotificationTemplates(directory: settings.templatesDirectory, kinds: kinds)
        let topology = try Topology.bundled()
        func run(_ queue: String) throws -> DeliveryRun {
            let policy = try topology.policy(for: queue)
            return DeliveryRun(
                pool: resources.pool, claimSeconds: settings.claimSeconds, maxAttempts: policy.maxAttempts, maxAge: settings.maxAge)
        }
        let notifier = Notifier(templates: templates, brand: settings.brand, maxAge: settings.maxAge)
        return [
            WorkerDefinition(
                name: name, queue: "armada.notifications",
                handlers: [
                    AnyMessageHandler(NotifyDepositPaidHandler(notifier: notifier)),
                    AnyMessageHandler(NotifyDepositExpiredHandler(notifier: notifier)),
                    AnyMessageHandler(NotifyWelcomeBonusCreditedHandler(notifier: notifier)),
                    AnyMessageHandler(NotifyDepositPaidLateHandler()),
                    AnyMessageHandler(NotifyOrderCreatedHandler(notifier: notifier)),
                    AnyMessageHandler(NotifyVPSActiveHandler(notifier: notifier)),
                    AnyMessageHandler(NotifyProvisioningFailedHandler(notifier: notifier)),
                    AnyMessageHandler(NotifyVPSExpiringSoonHandler(notifier: notifier)),
                    AnyMessageHandler(NotifyVPSRenewedHandler(notifier: notifier)),
                    AnyMessageHandler(NotifyVPSRenewalFailedHandler(notifier: notifier)),
                    AnyMessageHandler(NotifyVPSSuspendedHandler(notifier: notifier)),
                    AnyMessageHandler(NotifyVPSTerminatedHandler(notifier: notifier)),
                ],
                publishes: [SendEmail.self, SendTelegram.self],
                periodic: [
                    PeriodicJob(name: "notifications.abandoned", every: .seconds(600), exclusive: true) {
                        [maxAge = settings.maxAge] context in
                        let failed = try await resources.pool.transaction {
                            try Deliveries.failAbandoned(olderThan: maxAge + .seconds(3 * 3600), on: $0)
                        }
                        if failed > 0 {
                            context.logger.warning(
                                "deliveries abandoned in a dead-letter queue shown failed", metadata: ["count": "\(failed)"])
                        }
                    }
                ]),
            WorkerDefinition(
                name: "\(name).email", queue: "armada.email",
                handlers: [
                    AnyMessageHandler(
                        SendEmailHandler(
                            run: try run("armada.email"), smtp: settings.smtp, from: settings.smtpFrom, fromName: settings.brand))
                ], forwardUnhandled: .init(typePrefix: "event.", queue: "armada.notifications"), batchSize: 1),
            WorkerDefinition(
                name: "\(name).telegram", queue: "armada.telegram",
                handlers: [
                    AnyMessageHandler(
                        SendTelegramHandler(
                            run: try run("armada.telegram"), telegram: settings.telegram,
                            pacing: TelegramPacing(spacing: 1 / settings.telegramPerSecond)))
                ], forwardUnhandled: .init(typePrefix: "event.", queue: "armada.notifications"), batchSize: 1),
        ]
    }
}

/// The notifier's settings (README, Configuration).
public struct NotifierSettings: Sendable {
    /// ARMADA_TEMPLATES_DIR: the templates (default `Templates/notifications`).
    public var templatesDirectory: String
    /// ARMADA_BRAND_NAME: the name customers know the service by (default `Armada`).
    public var brand: String
    /// ARMADA_NOTIFY_MAX_AGE_HOURS: an event that happened this long before the notifier first ran
    /// is recorded with its deliveries skipped; a delivery still waiting (pacing, 429s) this long
    /// after it was recorded is dead-lettered; one still queued after this and 3 h more, with
    /// nobody sending it, is shown failed.
    public var maxAge: Duration
    /// ARMADA_DELIVERY_CLAIM_SECONDS: how long a send holds its delivery (longer than a send).
    public var claimSeconds: Int
    /// SMTP_URL, SMTP_FROM, SMTP_USERNAME, SMTP_PASSWORD, SMTP_REQUIRE_TLS.
    public var smtp: SMTPConfiguration
    public var smtpFrom: String
    /// TELEGRAM_API_URL, TELEGRAM_BOT_TOKEN.
    public var telegram: TelegramClient
    /// ARMADA_TELEGRAM_PER_SECOND: overall sends per second, every process together (default 25,
    /// under Telegram's 30 so a late answer cannot push a second over).
    public var telegramPerSecond: Double

    public init(_ environment: EnvironmentReader) throws {
        templatesDirectory = environment.string("ARMADA_TEMPLATES_DIR", default: "Templates/notifications")
        brand = environment.string("ARMADA_BRAND_NAME", default: "Armada")
        maxAge = .seconds(3600 * (try environment.int("ARMADA_NOTIFY_MAX_AGE_HOURS", default: 24, in: 1...720)))
        // Longer than a send can take: the SMTP timeout (30 s) plus the pacing's wait.
        claimSeconds = try environment.int("ARMADA_DELIVERY_CLAIM_SECONDS", default: 120, in: 60...3600)
        let smtpURL = try environment.required("SMTP_URL")
        guard smtpURL.lowercased().hasPrefix("smtp://") || smtpURL.lowercased().hasPrefix("smtps://") else {
            throw SettingsError("SMTP_URL must start with smtp:// or smtps://")
        }
        let requireTLS = environment.string("SMTP_REQUIRE_TLS", default: "0")
        guard ["0", "1"].contains(requireTLS) else { throw SettingsError("SMTP_REQUIRE_TLS must be 0 or 1") }
        smtp = SMTPConfiguration(
            url: smtpURL, username: environment.string("SMTP_USERNAME"), password: environment.string("SMTP_PASSWORD"),
            requireTLS: requireTLS == "1")
        smtpFrom = try environment.required("SMTP_FROM")
        guard smtpFrom.wholeMatch(of: /[^@\s<>]+@[^@\s<>]+/) != nil else {
            throw SettingsError("SMTP_FROM must be an address (user@domain)")
        }
        let token = try environment.required("TELEGRAM_BOT_TOKEN")
        guard token.wholeMatch(of: /[0-9]+:[A-Za-z0-9_-]+/) != nil else {
            // The token itself is never printed.
            throw SettingsError("TELEGRAM_BOT_TOKEN is not a bot token (digits, a colon, letters)")
        }
        telegram = TelegramClient(baseURL: environment.string("TELEGRAM_API_URL", default: "https://api.telegram.org"), token: token)
        telegramPerSecond = Double(try environment.int("ARMADA_TELEGRAM_PER_SECOND", default: 25, in: 1...30))
    }
}
