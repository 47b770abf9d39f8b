import Foundation
import Logging
import Messaging
import Postgres
import Tripay
import WalletContracts

/// Creates the deposit at Tripay, then records it (`payments.create-deposit`).
///
/// Tripay does not deduplicate `transaction/create`, so a deposit gets at most one payable
/// transaction this way: the attempt is recorded and leased before Tripay is called (two
/// deliveries of the command never call it at once: the second waits, `again`); an attempt that
/// is not the first — a crash after Tripay answered, a timeout, a redelivery — looks the
/// `merchant_ref` up at Tripay and adopts what is there before creating anything. The fee
/// Tripay computed must be the channel rule's, else the deposit is refused and flagged.
public struct CreateDepositHandler: PreparingMessageHandler {
    let tripay: TripayClient
    let policy: DepositPolicy
    /// How long one delivery holds the create: longer than a Tripay call can take.
    let leaseSeconds: Int

    public init(tripay: TripayClient, policy: DepositPolicy, leaseSeconds: Int = 120) {
        self.tripay = tripay
        self.policy = policy
        self.leaseSeconds = leaseSeconds
    }

    public struct Created: Sendable {
        var transaction: TripayTransaction
        var channel: PaymentChannel
        /// More than one transaction was found for the merchant_ref (one is adopted).
        var duplicates: Int
    }

    public func prepare(_ message: Envelope<CreateDeposit>, context: PrepareContext) async throws -> Preparation<Created> {
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

        let merchantRef = Deposit.merchantRef(for: command.depositId)
        let holder = UUID()
        let (depositId, seconds) = (command.depositId, leaseSeconds)
        // The lease, then a look for the deposit, in one transaction: a delivery that comes after
        // another recorded the deposit (its inbox row pruned, or it passed the inbox check just
        // before that commit) finds the deposit instead of creating at Tripay again. In this
        // order: taking the lease waits for a create in progress to commit or give up, and the
        // look that follows sees what it recorded.
        let lease = try await context.pool.transaction { connection -> (attempt: Int?, recorded: DepositView?) in
            let attempt = try Deposits.leaseCreate(depositId, merchantRef: merchantRef, holder: holder, forSeconds: seconds, on: connection)
            if let view = try Deposits.view(depositId, customerId: customerId, on: connection) {
                if attempt != nil { try Deposits.finishCreate(depositId, on: connection) }
                return (nil, view)
            }
            return (attempt, nil)
        }
        if let recorded = lease.recorded { return .finished(try .done(recorded)) }
        guard let attempt = lease.attempt else {
            return .finished(
                .again(
                    after: .seconds(5), until: context.time.runAt.addingTimeInterval(Double(seconds) * 3),
                    because: "another delivery of this command is creating the deposit at Tripay"))
        }
        do {
            if attempt > 1 {
                // An earlier attempt may have reached Tripay: adopt what it made.
                let existing = try await tripay.transactions(merchantRef: merchantRef)
                // A paid one first, then one still payable; only expired or failed ones: create anew.
                let adopted = existing.first { $0.status == "PAID" } ?? existing.first { $0.status == "UNPAID" }
                if let adopted {
                    context.logger.notice(
                        "adopting the transaction an earlier attempt made",
                        metadata: ["reference": "\(adopted.reference)", "found": "\(existing.count)"])
                    return .ready(Created(transaction: adopted, channel: channel, duplicates: existing.count - 1))
                }
            }
            let contact = try await context.pool.withConnection { try Customers.contact(customerId, on: $0) }
            let transaction = try await tripay.createTransaction(
                method: channel.code, merchantRef: merchantRef, amount: command.amount, customerName: contact?.displayName ?? customerId,
                customerEmail: contact?.email ?? "\(customerId)@customers.armada.invalid", customerPhone: nil,
                orderItems: [TripayOrderItem(sku: "WALLET-TOPUP", name: "Top up saldo", price: command.amount, quantity: 1)],
                callbackURL: policy.callbackURL, returnURL: policy.returnURL,
                expiresAt: message.occurredAt.addingTimeInterval(Double(policy.expiry.components.seconds)))
            return .ready(Created(transaction: transaction, channel: channel, duplicates: 0))
        } catch TripayError.rejected(_, let reason) {
            try? await context.pool.withConnection { try Deposits.releaseCreate(depositId, holder: holder, on: $0) }
            return .finished(.rejected(.tripayRejected, reason))
        } catch {
            // Ambiguous (a timeout may hide a transaction Tripay is still creating): the lease is
            // kept until it runs out, so the next attempt looks only after Tripay had time.
            throw error
        }
    }

    public func handle(_ message: Envelope<CreateDeposit>, prepared created: Created, context: inout HandlerContext) throws
        -> HandlerOutcome
    {
        let command = message.data
        let transaction = created.transaction
        try Deposits.finishCreate(command.depositId, on: context.connection)
        let new = NewDeposit(
            id: command.depositId, customerId: command.customerId, amount: command.amount, fee: transaction.feeCustomer,
            method: transaction.paymentMethod, reference: transaction.reference, payCode: transaction.payCode,
            checkoutURL: transaction.checkoutURL, paymentName: transaction.paymentName, payURL: transaction.payURL,
            qrString: transaction.qrString, promoCode: command.promoCode,
            expiresAt: Date(timeIntervalSince1970: Double(transaction.expiredTime)), commandId: message.commandId)
        let expectedFee = created.channel.customerFee(for: command.amount)
        guard transaction.feeCustomer == expectedFee, transaction.amount == command.amount + transaction.feeCustomer else {
            // A merchant-side fee change must not go unnoticed: refuse, and keep the deposit
            // (FAILED, with Tripay's reference) flagged for an operator.
            let detail =
                "Tripay fee_customer \(transaction.feeCustomer) and total \(transaction.amount); the \(created.channel.code) rule gives \(expectedFee)"
            // Without its payment instructions: the customer must not pay a refused deposit.
            var refused = new
            (refused.payCode, refused.checkoutURL, refused.payURL, refused.qrString) = (nil, nil, nil, nil)
            context.keepEvenIfRejected { connection in
                try Deposits.finishCreate(command.depositId, on: connection)
                if let deposit = try Deposits.insert(refused, status: .failed, on: connection) {
                    try Deposits.flag(deposit.id, .feeMismatch, detail: detail, on: connection)
                }
            }
            return .rejected(.depositFeeMismatch, "the payment channel's fee changed; the deposit was not created (\(detail))")
        }
        try Deposits.insert(new, on: context.connection)
        if created.duplicates > 0 {
            try Deposits.flag(
                command.depositId, .multipleTripayTransactions,
                detail: "\(created.duplicates + 1) transactions for \(Deposit.merchantRef(for: command.depositId))",
                on: context.connection)
        }
        guard let view = try Deposits.view(command.depositId, customerId: command.customerId, on: context.connection) else {
            // Recorded for another customer (a forged deposit id): refuse rather than show it.
            return .rejected(.depositNotFound, "the deposit could not be recorded for this customer")
        }
        context.logger.info("deposit created", metadata: ["deposit_id": "\(command.depositId)", "reference": "\(transaction.reference)"])
        return try .done(view)
    }
}
