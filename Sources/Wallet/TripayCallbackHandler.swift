import Foundation
import Logging
import Messaging
import Postgres
import Tripay

/// Applies a Tripay payment-status callback to its deposit (DOMAIN.md: Deposits).
///
/// PAID moves a PENDING deposit to PAID and credits the wallet once, unless the amounts
/// disagree, which is flagged instead; EXPIRED and FAILED end a PENDING deposit; REFUND after
/// payment is flagged for an operator, the wallet is not debited. Every callback is written to
/// `tripay_callbacks` with what it did.
public struct TripayCallbackHandler: MessageHandler {
    public init() {}

    public enum Outcome: String, Sendable {
        case credited = "CREDITED"
        case alreadyPaid = "ALREADY_PAID"
        case unknownReference = "UNKNOWN_REFERENCE"
        case amountMismatch = "AMOUNT_MISMATCH"
        case paidAfterClose = "PAID_AFTER_CLOSE"
        case expired = "EXPIRED"
        case failed = "FAILED"
        case refundFlagged = "REFUND_FLAGGED"
        case ignored = "IGNORED"
    }

    public func handle(_ message: Envelope<TripayCallbackReceived>, context: inout HandlerContext) throws {
        let callback: TripayCallback
        do {
            callback = try TripayCallback.decode(Array(message.data.rawBody.utf8))
        } catch {
            throw UndecodableMessage(reason: "Tripay callback body does not decode: \(error)")
        }
        let connection = context.connection
        let deposit = try Deposits.lock(reference: callback.reference, on: connection)
        let outcome = try apply(callback, to: deposit, messageID: message.id, context: &context)
        try connection.execute(
            """
            INSERT INTO tripay_callbacks
                (message_id, reference, merchant_ref, status, total_amount, amount_received, deposit_id, outcome, raw_body)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """,
            message.id, callback.reference, callback.merchantRef, callback.status.rawValue, callback.totalAmount,
            callback.amountReceived, deposit?.id, outcome.rawValue, message.data.rawBody)
        context.logger.info(
            "tripay callback applied",
            metadata: ["reference": "\(callback.reference)", "status": "\(callback.status.rawValue)", "outcome": "\(outcome.rawValue)"])
    }

    /// The deposit's promo, validated again now that it is paid (DOMAIN.md, fixed); a promo that
    /// no longer applies gives no bonus and the deposit is credited all the same.
    private func applyPromo(to deposit: Deposit, context: HandlerContext) throws -> Int64 {
        guard let code = deposit.promoCode else { return 0 }
        switch try Promos.redeem(
            code: code, customerId: deposit.customerId, depositId: deposit.id, amount: deposit.amount, now: Date(), on: context.connection)
        {
        case .success(let (_, bonus)):
            try context.connection.execute("UPDATE deposits SET bonus = $2 WHERE id = $1", deposit.id, bonus)
            return bonus
        case .failure(let rejection):
            context.logger.notice("promo not applied at payment", metadata: ["promo": "\(code)", "reason": "\(rejection.rawValue)"])
            try context.connection.execute(
                "UPDATE deposits SET flag = COALESCE(flag, $2) WHERE id = $1", deposit.id, "PROMO_NOT_APPLIED: \(rejection.rawValue)")
            return 0
        }
    }

    private func apply(
        _ callback: TripayCallback, to deposit: Deposit?, messageID: UUID, context: inout HandlerContext
    ) throws -> Outcome {
        guard let deposit else { return .unknownReference }
        let connection = context.connection
        switch callback.status {
        case .paid:
            if deposit.status == .paid { return .alreadyPaid }
            guard deposit.status == .pending else {
                // The money arrived for a deposit we closed: an operator decides.
                try Deposits.flag(deposit.id, reason: "PAID_AFTER_\(deposit.status.rawValue)", on: connection)
                return .paidAfterClose
            }
            guard callback.totalAmount == deposit.totalAmount,
                callback.amountReceived.map({ $0 > 0 && $0 <= callback.totalAmount }) ?? true
            else {
                try Deposits.flag(
                    deposit.id,
                    reason:
                        "AMOUNT_MISMATCH: expected total \(deposit.totalAmount), callback total \(callback.totalAmount), received \(callback.amountReceived.map(String.init) ?? "none")",
                    on: connection)
                return .amountMismatch
            }
            let paidAt = callback.paidAt.map { Date(timeIntervalSince1970: Double($0)) } ?? Date()
            guard try Deposits.transition(deposit.id, from: .pending, to: .paid, paidAt: paidAt, on: connection) else {
                return .alreadyPaid
            }
            var posting = try Ledger.credit(
                deposit.customerId, amount: deposit.amount, reference: .deposit, referenceId: deposit.id.uuidString.lowercased(),
                description: "Deposit \(callback.reference) via \(deposit.method)", on: connection)
            let bonus = try applyPromo(to: deposit, context: context)
            if bonus > 0 {
                posting = try Ledger.credit(
                    deposit.customerId, amount: bonus, reference: .depositBonus, referenceId: deposit.id.uuidString.lowercased(),
                    description: "Bonus \(deposit.promoCode ?? "") for deposit \(callback.reference)", on: connection)
            }
            try context.send(
                Envelope(
                    id: MessageID.derive("deposit-paid", deposit.id.uuidString),
                    data: DepositPaid(
                        customerId: deposit.customerId, depositId: deposit.id, reference: callback.reference, amount: deposit.amount,
                        bonus: bonus, balanceAfter: posting.entry.balanceAfter),
                    correlationId: callback.reference))
            return .credited
        case .expired, .failed:
            let target: DepositStatus = callback.status == .expired ? .expired : .failed
            guard try Deposits.transition(deposit.id, from: .pending, to: target, on: connection) else { return .ignored }
            try context.send(
                Envelope(
                    id: MessageID.derive("deposit-closed", deposit.id.uuidString),
                    data: DepositExpired(
                        customerId: deposit.customerId, depositId: deposit.id, reference: callback.reference, amount: deposit.amount,
                        status: target.rawValue),
                    correlationId: callback.reference))
            return target == .expired ? .expired : .failed
        case .refund:
            guard deposit.status == .paid else { return .ignored }
            try Deposits.flag(deposit.id, reason: "REFUNDED_AFTER_PAYMENT", on: connection)
            return .refundFlagged
        }
    }
}
