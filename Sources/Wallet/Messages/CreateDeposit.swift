import Foundation
import Logging
import Messaging
import Postgres
import Tripay
import WalletContracts

/// Creates the deposit at Tripay, then records it (`payments.create-deposit`). The Tripay call
/// happens in `prepare`, outside the transaction; `merchant_ref` is derived from the deposit id,
/// so a repeated call after a crash names the same deposit.
public struct CreateDepositHandler: PreparingMessageHandler {
    let tripay: TripayClient
    let policy: DepositPolicy

    public init(tripay: TripayClient, policy: DepositPolicy) {
        self.tripay = tripay
        self.policy = policy
    }

    public func prepare(_ message: Envelope<CreateDeposit>, context: PrepareContext) async throws -> Preparation<TripayTransaction> {
        let command = message.data
        guard command.amount >= policy.minimumAmount, command.amount <= policy.maximumAmount else {
            return .finished(
                .rejected(.depositAmountOutOfRange, "amount must be between \(policy.minimumAmount) and \(policy.maximumAmount)"))
        }
        guard let channel = try await PaymentChannels.channel(command.method, pool: context.pool, tripay: tripay), channel.active else {
            return .finished(.rejected(.tripayChannelNotFound, "payment channel \(command.method) is not available"))
        }
        if let minimum = channel.minimumAmount, command.amount < minimum {
            return .finished(.rejected(.depositAmountOutOfRange, "\(channel.code) takes at least \(minimum)"))
        }
        if let maximum = channel.maximumAmount, command.amount > maximum {
            return .finished(.rejected(.depositAmountOutOfRange, "\(channel.code) takes at most \(maximum)"))
        }
        let customerId = command.customerId
        if let code = command.promoCode {
            // Checked before Tripay is asked for anything, at the time the command was accepted;
            // applied (and checked again) when paid.
            let now = context.now
            let check = try await context.pool.withConnection { connection in
                try Promos.evaluate(code: code, customerId: customerId, amount: command.amount, now: now, on: connection).map { $0.1 }
            }
            if case .failure(let rejection) = check { return .finished(.rejected(rejection.rejection)) }
        }
        let contact = try await context.pool.withConnection { try Customers.contact(customerId, on: $0) }
        do {
            return .ready(
                try await tripay.createTransaction(
                    method: channel.code, merchantRef: Deposit.merchantRef(for: command.depositId), amount: command.amount,
                    customerName: contact?.displayName ?? customerId,
                    customerEmail: contact?.email ?? "\(customerId)@customers.armada.invalid", customerPhone: nil,
                    orderItems: [TripayOrderItem(sku: "WALLET-TOPUP", name: "Top up saldo", price: command.amount, quantity: 1)],
                    callbackURL: policy.callbackURL, returnURL: policy.returnURL,
                    expiresAt: message.occurredAt.addingTimeInterval(Double(policy.expiry.components.seconds))))
        } catch TripayError.rejected(_, let reason) {
            return .finished(.rejected(.tripayRejected, reason))
        }
    }

    public func handle(_ message: Envelope<CreateDeposit>, prepared transaction: TripayTransaction, context: inout HandlerContext) throws
        -> HandlerOutcome
    {
        let command = message.data
        try Deposits.insert(
            NewDeposit(
                id: command.depositId, customerId: command.customerId, amount: command.amount,
                fee: max(0, transaction.amount - command.amount), method: transaction.paymentMethod, reference: transaction.reference,
                payCode: transaction.payCode, checkoutURL: transaction.checkoutURL, paymentName: transaction.paymentName,
                payURL: transaction.payURL, qrString: transaction.qrString, promoCode: command.promoCode,
                expiresAt: Date(timeIntervalSince1970: Double(transaction.expiredTime)), commandId: message.commandId),
            on: context.connection)
        guard let view = try Deposits.view(command.depositId, customerId: command.customerId, on: context.connection) else {
            // Recorded for another customer (a forged deposit id): refuse rather than show it.
            return .rejected(.depositNotFound, "the deposit could not be recorded for this customer")
        }
        context.logger.info("deposit created", metadata: ["deposit_id": "\(command.depositId)", "reference": "\(transaction.reference)"])
        return try .done(view)
    }
}
