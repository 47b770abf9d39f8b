import Foundation
import Logging
import Messaging
import Postgres
import Tripay

/// `POST /wallet/deposits`, carried out by the payments worker.
public struct CreateDeposit: MessageBody, Equatable {
    public static let messageType = "payments.create-deposit"
    public static let exchange = Exchange.commands

    public var depositId: UUID
    public var customerId: String
    public var amount: Int64
    public var method: String
    public var promoCode: String?

    public init(depositId: UUID, customerId: String, amount: Int64, method: String, promoCode: String?) {
        self.depositId = depositId
        self.customerId = customerId
        self.amount = amount
        self.method = method
        self.promoCode = promoCode
    }
}

/// Deposit limits (DOMAIN.md: minimum 10,000; a configurable maximum; expiry default 24 h).
public struct DepositPolicy: Sendable {
    public var minimumAmount: Int64 = Deposit.minimumAmount
    public var maximumAmount: Int64 = 100_000_000
    public var expiry: Duration = .seconds(24 * 3600)
    /// Where Tripay sends callbacks for deposits made here (TRIPAY_CALLBACK_URL); nil uses the merchant setting.
    public var callbackURL: String?
    public var returnURL: String?

    public init(
        maximumAmount: Int64 = 100_000_000, expiry: Duration = .seconds(24 * 3600), callbackURL: String? = nil, returnURL: String? = nil
    ) {
        self.maximumAmount = maximumAmount
        self.expiry = expiry
        self.callbackURL = callbackURL
        self.returnURL = returnURL
    }
}

/// Creates the deposit at Tripay, then records it. The Tripay call happens in `prepare`, outside
/// the transaction; `merchant_ref` is derived from the deposit id, so a repeated call after a
/// crash gets the same transaction back rather than a second one.
public struct CreateDepositHandler: PreparingMessageHandler {
    let tripay: TripayClient
    let policy: DepositPolicy

    public init(tripay: TripayClient, policy: DepositPolicy) {
        self.tripay = tripay
        self.policy = policy
    }

    public func prepare(_ message: Envelope<CreateDeposit>, pool: PostgresPool, logger: Logger) async throws -> TripayTransaction {
        let command = message.data
        guard command.amount >= policy.minimumAmount, command.amount <= policy.maximumAmount else {
            throw HandlerFailure.permanent(
                "DEPOSIT_AMOUNT_OUT_OF_RANGE", "amount must be between \(policy.minimumAmount) and \(policy.maximumAmount)")
        }
        let channel = try await PaymentChannels.channel(command.method, pool: pool, tripay: tripay, logger: logger)
        guard let channel, channel.active else {
            throw HandlerFailure.permanent("TRIPAY_CHANNEL_NOT_FOUND", "payment channel \(command.method) is not available")
        }
        if let minimum = channel.minimumAmount, command.amount < minimum {
            throw HandlerFailure.permanent("DEPOSIT_AMOUNT_OUT_OF_RANGE", "\(channel.code) takes at least \(minimum)")
        }
        if let maximum = channel.maximumAmount, command.amount > maximum {
            throw HandlerFailure.permanent("DEPOSIT_AMOUNT_OUT_OF_RANGE", "\(channel.code) takes at most \(maximum)")
        }
        let customerId = command.customerId
        if let code = command.promoCode {
            // Checked before Tripay is asked for anything; applied (and checked again) when paid.
            let check = try await pool.withConnection { connection in
                try Promos.evaluate(code: code, customerId: customerId, amount: command.amount, now: Date(), on: connection).map { $0.1 }
            }
            if case .failure(let rejection) = check { throw HandlerFailure.permanent(rejection.rawValue, rejection.message) }
        }
        let contact = try await pool.withConnection { connection in
            try connection.query("SELECT email, display_name FROM customers WHERE customer_id = $1", customerId).first.map {
                (email: try $0.decode("email", as: String?.self), name: try $0.decode("display_name", as: String?.self))
            }
        }
        do {
            return try await tripay.createTransaction(
                method: channel.code, merchantRef: Deposit.merchantRef(for: command.depositId), amount: command.amount,
                customerName: contact?.name ?? customerId, customerEmail: contact?.email ?? "\(customerId)@customers.armada.invalid",
                customerPhone: nil,
                orderItems: [TripayOrderItem(sku: "WALLET-TOPUP", name: "Top up saldo", price: command.amount, quantity: 1)],
                callbackURL: policy.callbackURL, returnURL: policy.returnURL,
                expiresAt: message.occurredAt.addingTimeInterval(Double(policy.expiry.components.seconds)))
        } catch let error as TripayError {
            switch error {
            case .rejected(_, let reason): throw HandlerFailure.permanent("TRIPAY_REJECTED", reason)
            case .unavailable(let reason): throw HandlerFailure.transient("TRIPAY_UNAVAILABLE", reason)
            }
        }
    }

    public func handle(_ message: Envelope<CreateDeposit>, prepared transaction: TripayTransaction, context: inout HandlerContext) throws {
        let command = message.data
        let fee = max(0, transaction.amount - command.amount)
        try context.connection.execute(
            """
            INSERT INTO deposits (id, customer_id, amount, fee, total_amount, method, reference, merchant_ref, pay_code, checkout_url,
                                  payment_name, pay_url, qr_string, promo_code, expires_at, command_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
            ON CONFLICT (id) DO NOTHING
            """,
            command.depositId, command.customerId, command.amount, fee, command.amount + fee, transaction.paymentMethod,
            transaction.reference, transaction.merchantRef, transaction.payCode, transaction.checkoutURL, transaction.paymentName,
            transaction.payURL, transaction.qrString, command.promoCode?.uppercased(),
            Date(timeIntervalSince1970: Double(transaction.expiredTime)), message.commandId)
        guard let view = try DepositQueries.find(command.depositId, customerId: command.customerId, on: context.connection) else {
            throw HandlerFailure.transient("DEPOSIT_NOT_RECORDED", "the deposit row is missing after insert")
        }
        try context.complete(with: view)
        context.logger.info("deposit created", metadata: ["deposit_id": "\(command.depositId)", "reference": "\(transaction.reference)"])
    }
}

/// Tripay's channel list, cached in `payment_channels`.
public enum PaymentChannels {
    /// The cached channel, fetching the list from Tripay first when the cache is empty.
    public static func channel(_ code: String, pool: PostgresPool, tripay: TripayClient, logger: Logger) async throws -> PaymentChannel? {
        let cached = try await all(pool: pool)
        if cached.isEmpty {
            do {
                try await refresh(pool: pool, tripay: tripay)
            } catch let error as TripayError {
                throw HandlerFailure.transient("TRIPAY_UNAVAILABLE", "\(error)")
            }
            return try await all(pool: pool).first { $0.code == code }
        }
        return cached.first { $0.code == code }
    }

    public static func all(pool: PostgresPool) async throws -> [PaymentChannel] {
        try await pool.withConnection { connection in
            try connection.query("SELECT channel::text AS c FROM payment_channels ORDER BY code").map {
                try JSONDecoder().decode(PaymentChannel.self, from: Data(try $0.decode("c", as: String.self).utf8))
            }
        }
    }

    /// Replaces the cache with Tripay's current list.
    public static func refresh(pool: PostgresPool, tripay: TripayClient) async throws {
        let channels = try await tripay.paymentChannels()
        let rows = try channels.map { ($0.code, $0.active, String(decoding: try JSONEncoder().encode($0), as: UTF8.self)) }
        try await pool.transaction { connection in
            try connection.execute(
                "DELETE FROM payment_channels WHERE NOT (code = ANY($1::text[]))", "{" + rows.map(\.0).joined(separator: ",") + "}")
            for (code, active, json) in rows {
                try connection.execute(
                    """
                    INSERT INTO payment_channels (code, active, channel, refreshed_at) VALUES ($1, $2, $3::jsonb, now())
                    ON CONFLICT (code) DO UPDATE SET active = EXCLUDED.active, channel = EXCLUDED.channel, refreshed_at = now()
                    """, code, active, json)
            }
        }
    }
}

/// `PUT /me/contact`: where the customer's notifications go.
public struct UpdateContact: MessageBody, Equatable {
    public static let messageType = "payments.update-contact"
    public static let exchange = Exchange.commands

    public var customerId: String
    public var email: String?
    public var displayName: String?
    public var telegramChatId: String?
    public var locale: String

    public init(customerId: String, email: String?, displayName: String?, telegramChatId: String?, locale: String) {
        self.customerId = customerId
        self.email = email
        self.displayName = displayName
        self.telegramChatId = telegramChatId
        self.locale = locale
    }
}

public struct UpdateContactHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<UpdateContact>, context: inout HandlerContext) throws {
        let contact = message.data
        try context.connection.execute(
            """
            INSERT INTO customers (customer_id, email, display_name, telegram_chat_id, locale, updated_at)
            VALUES ($1, $2, $3, $4, $5, now())
            ON CONFLICT (customer_id) DO UPDATE SET email = EXCLUDED.email, display_name = EXCLUDED.display_name,
                telegram_chat_id = EXCLUDED.telegram_chat_id, locale = EXCLUDED.locale, updated_at = now()
            """, contact.customerId, contact.email, contact.displayName, contact.telegramChatId, contact.locale)
        try context.complete(with: contact)
    }
}
