import DigitalOcean
import Foundation
import Messaging
import OrdersContracts
import Postgres

/// Admin: add a DigitalOcean account (`provisioning.add-do-account`). The token is opened only to
/// check it with `GET /v2/account`; a token DigitalOcean refuses is not stored
/// (DO_ACCOUNT_TOKEN_REJECTED), nor a name or token already there (DO_ACCOUNT_DUPLICATE).
public struct AddDOAccountHandler: PreparingMessageHandler {
    let client: DigitalOceanClient
    let sealer: TokenSealer

    public init(client: DigitalOceanClient, sealer: TokenSealer) {
        self.client = client
        self.sealer = sealer
    }

    public func prepare(_ message: Envelope<AddDOAccount>, context: PrepareContext) async throws -> Preparation<[UInt8]> {
        guard let sealed = Data(base64Encoded: message.data.sealedToken), let token = try? sealer.open(Array(sealed)) else {
            return .finished(.rejected(.validationFailed, "the token does not open with this installation's key"))
        }
        do {
            let account = try await client.account(token: token).value
            context.logger.info("DigitalOcean token checked", metadata: ["account_status": "\(account.status)"])
            // Sealed again with this process's current key: a command sealed by an ingress before
            // an ARMADA_ENCRYPTION_KEY rotation may arrive after `do-accounts reseal` ran, and must
            // not store a token only the previous key opens.
            return .ready(try sealer.seal(token))
        } catch DigitalOceanError.unauthorized(let status, let text) {
            return .finished(.rejected(.doAccountTokenRejected, "DigitalOcean refused the token (\(status)): \(text)"))
        }
    }

    public func handle(_ message: Envelope<AddDOAccount>, prepared sealed: [UInt8], context: inout HandlerContext) throws -> HandlerOutcome
    {
        let body = message.data
        guard
            try DOAccounts.insert(
                id: body.accountId, name: body.name, sealedToken: sealed, fingerprint: body.fingerprint, dropletLimit: body.dropletLimit,
                isPrimary: body.primary, on: context.connection)
        else { return .rejected(.doAccountDuplicate, "an account with this name or token exists already") }
        guard let view = try DOAccounts.views(on: context.connection).first(where: { $0.id == body.accountId.uuidString.lowercased() })
        else { return .done }
        return try .done(view)
    }
}
