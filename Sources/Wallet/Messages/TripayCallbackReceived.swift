import Foundation
import Logging
import Messaging
import Metrics
import Postgres
import Tripay
import WalletContracts

/// Applies a Tripay payment-status callback to its deposit (`payments.tripay-callback`;
/// DOMAIN.md: Deposits).
///
/// PAID moves a PENDING deposit to PAID and credits the wallet once, unless the amounts
/// disagree, which is flagged instead. Money is never kept without credit: a PAID for a deposit
/// we already closed (EXPIRED, CANCELED, FAILED) credits it all the same, once, and raises an
/// operator alert (a flag, `event.deposit.paid-late`, a metric). EXPIRED and FAILED end a
/// PENDING deposit; REFUND after payment is flagged for an operator, the wallet is not debited.
///
/// A callback whose reference we do not know is looked up by its `merchant_ref` (a second Tripay
/// transaction of a deposit); still unknown, it is not consumed: it runs again for
/// `unknownReferenceWindow`, then is dead-lettered for an operator. Every applied callback is
/// written to `tripay_callbacks` with what it did.
public struct TripayCallbackHandler: MessageHandler {
    let unknownReferenceWindow: Duration

    public init(unknownReferenceWindow: Duration = .seconds(3600)) {
        self.unknownReferenceWindow = unknownReferenceWindow
    }

    public enum Outcome: String, Sendable {
        case credited = "CREDITED"
        case alreadyPaid = "ALREADY_PAID"
        case amountMismatch = "AMOUNT_MISMATCH"
        case paidAfterClose = "PAID_AFTER_CLOSE"
        case expired = "EXPIRED"
        case failed = "FAILED"
        case refundFlagged = "REFUND_FLAGGED"
        case ignored = "IGNORED"
    }

    public func handle(_ message: Envelope<TripayCallbackReceived>, context: inout HandlerContext) throws -> HandlerOutcome {
        let callback: TripayCallback
        do {
            callback = try TripayCallback.decode(Array(message.data.rawBody.utf8))
        } catch {
            throw UndecodableMessage(reason: "Tripay callback body does not decode: \(error)")
        }
        var deposit = try Deposits.lock(reference: callback.reference, on: context.connection)
        if deposit == nil, let merchantRef = callback.merchantRef {
            deposit = try Deposits.lock(merchantRef: merchantRef, on: context.connection)
        }
        guard let deposit else {
            // Perhaps the deposit is being recorded right now (Tripay answered, our commit has not
            // happened yet); perhaps it is not ours. Not consumed either way.
            return .again(
                after: .seconds(60), until: message.data.receivedAt.addingTimeInterval(Double(unknownReferenceWindow.components.seconds)),
                because: "no deposit has reference \(callback.reference) or merchant_ref \(callback.merchantRef ?? "(none)")")
        }
        // The payment's own time decides (a promo's window); a callback without one was paid
        // by the time it was received.
        let paidAt = callback.paidAt.map { Date(timeIntervalSince1970: Double($0)) } ?? message.data.receivedAt
        let outcome = try apply(callback, to: deposit, paidAt: paidAt, context: &context)
        try TripayCallbacks.record(
            messageId: message.id, callback: callback, depositId: deposit.id, outcome: outcome.rawValue, rawBody: message.data.rawBody,
            on: context.connection)
        context.logger.info(
            "tripay callback applied",
            metadata: ["reference": "\(callback.reference)", "status": "\(callback.status.rawValue)", "outcome": "\(outcome.rawValue)"])
        return .done
    }

    private func apply(_ callback: TripayCallback, to deposit: Deposit, paidAt: Date, context: inout HandlerContext) throws -> Outcome {
        let connection = context.connection
        switch callback.status {
        case .paid:
            if deposit.status == .paid {
                if deposit.reference != callback.reference {
                    // Another transaction of the same merchant_ref was paid too: money arrived
                    // that the ledger (one credit per deposit) cannot take; an operator refunds it.
                    try Deposits.flag(
                        deposit.id, .paidTwice, detail: "also paid: \(callback.reference) (\(callback.totalAmount))", on: connection)
                }
                return .alreadyPaid
            }
            guard callback.totalAmount == deposit.totalAmount,
                callback.amountReceived.map({ $0 > 0 && $0 <= callback.totalAmount }) ?? true
            else {
                try Deposits.flag(
                    deposit.id, .amountMismatch,
                    detail:
                        "expected total \(deposit.totalAmount), callback total \(callback.totalAmount), received \(callback.amountReceived.map(String.init) ?? "none")",
                    on: connection)
                return .amountMismatch
            }
            let late = deposit.status != .pending
            guard try Deposits.transition(deposit.id, from: deposit.status, to: .paid, paidAt: paidAt, on: connection) else {
                return .alreadyPaid
            }
            if deposit.reference != callback.reference {
                try Deposits.adoptReference(deposit.id, reference: callback.reference, on: connection)
            }
            if late {
                // Money that reached the merchant is never kept without credit: credit it, and
                // tell an operator why the deposit had been closed.
                try Deposits.flag(
                    deposit.id, .paidAfter(deposit.status), detail: "\(callback.reference) paid while \(deposit.status.rawValue)",
                    on: connection)
                try context.send(
                    DepositPaidLate(
                        customerId: deposit.customerId, depositId: deposit.id, reference: callback.reference, amount: deposit.amount,
                        closedAs: deposit.status),
                    id: MessageID.derive("deposit-paid-late", deposit.id.uuidString), correlationId: callback.reference)
                PaymentsMetrics.paidLate.increment()
            }
            var posting = try Ledger.credit(
                deposit.customerId, amount: deposit.amount, reference: .deposit, referenceId: deposit.id.uuidString.lowercased(),
                description: "Deposit \(callback.reference) via \(deposit.method)", on: connection)
            let bonus = try applyPromo(to: deposit, paidAt: paidAt, context: context)
            if bonus > 0 {
                posting = try Ledger.credit(
                    deposit.customerId, amount: bonus, reference: .depositBonus, referenceId: deposit.id.uuidString.lowercased(),
                    description: "Bonus \(deposit.promoCode ?? "") for deposit \(callback.reference)", on: connection)
            }
            try context.send(
                DepositPaid(
                    customerId: deposit.customerId, depositId: deposit.id, reference: callback.reference, amount: deposit.amount,
                    bonus: bonus, balanceAfter: posting.entry.balanceAfter),
                id: MessageID.derive("deposit-paid", deposit.id.uuidString), correlationId: callback.reference)
            return late ? .paidAfterClose : .credited
        case .expired, .failed:
            // Another transaction of the deposit's merchant_ref ended: the deposit's own one may
            // still be paid, so the deposit stays as it is.
            guard callback.reference == deposit.reference else { return .ignored }
            let target: DepositStatus = callback.status == .expired ? .expired : .failed
            guard try Deposits.transition(deposit.id, from: .pending, to: target, on: connection) else { return .ignored }
            try context.send(
                DepositExpired(
                    customerId: deposit.customerId, depositId: deposit.id, reference: callback.reference, amount: deposit.amount,
                    status: target),
                id: MessageID.derive("deposit-closed", deposit.id.uuidString), correlationId: callback.reference)
            return target == .expired ? .expired : .failed
        case .refund:
            guard deposit.status == .paid else { return .ignored }
            try Deposits.flag(deposit.id, .refundedAfterPayment, detail: callback.reference, on: connection)
            return .refundFlagged
        }
    }

    /// The deposit's promo, validated again at the payment's time (DOMAIN.md, fixed); a promo
    /// that no longer applies gives no bonus and the deposit is credited all the same.
    private func applyPromo(to deposit: Deposit, paidAt: Date, context: HandlerContext) throws -> Int64 {
        guard let code = deposit.promoCode else { return 0 }
        switch try Promos.redeem(
            code: code, customerId: deposit.customerId, depositId: deposit.id, amount: deposit.amount, now: paidAt, on: context.connection)
        {
        case .success(let (_, bonus)):
            try Deposits.recordBonus(deposit.id, bonus: bonus, on: context.connection)
            return bonus
        case .failure(let rejection):
            context.logger.notice("promo not applied at payment", metadata: ["promo": "\(code)", "reason": "\(rejection.code)"])
            try Deposits.flag(deposit.id, .promoNotApplied, detail: "\(code): \(rejection.code)", on: context.connection)
            return 0
        }
    }
}
