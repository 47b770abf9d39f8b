import Foundation
import Messaging
import WalletContracts

/// Admin: a signed correction of a customer's balance (`payments.adjust-wallet`), an
/// ADMIN_ADJUSTMENT ledger entry referenced by the command id.
public struct AdjustWalletHandler: MessageHandler {
    public init() {}

    public func handle(_ message: Envelope<AdjustWallet>, context: inout HandlerContext) throws -> HandlerOutcome {
        let command = message.data
        let reference = (message.commandId ?? message.id).uuidString.lowercased()
        let metadata = String(decoding: try JSONEncoder().encode(["adminId": command.adminId]), as: UTF8.self)
        let posting: LedgerPosting
        do {
            posting =
                command.amount > 0
                ? try Ledger.credit(
                    command.customerId, amount: command.amount, reference: .adminAdjustment, referenceId: reference,
                    description: command.description, metadata: metadata, on: context.connection)
                : try Ledger.debit(
                    command.customerId, amount: -command.amount, reference: .adminAdjustment, referenceId: reference,
                    description: command.description, metadata: metadata, on: context.connection)
        } catch let error as WalletError {
            return .rejected(error.rejection)
        }
        return try .done(["balanceAfter": posting.entry.balanceAfter])
    }
}
