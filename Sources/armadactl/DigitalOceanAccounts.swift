import ArgumentParser
import DigitalOcean
import Foundation
import Messaging
import OrdersContracts
import Postgres
import Provisioning

struct DOAccountsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "do-accounts", abstract: "DigitalOcean accounts droplets are created on.",
        subcommands: [Add.self, List.self, Reseal.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Add an account: the token (read from the environment variable --token-env, never an argument) is checked with GET /v2/account, then stored sealed with ARMADA_ENCRYPTION_KEY."
        )
        @Option(help: "A name for operators.") var name: String
        @Option(help: "The environment variable holding the token.") var tokenEnv: String = "DIGITALOCEAN_TOKEN"
        @Option(help: "Droplets Armada may create on it.") var dropletLimit: Int = 25
        @Flag(help: "New droplets go here first.") var primary = false

        func run() async throws {
            let tooling = try Tooling()
            let environment = tooling.settings.environment
            guard let token = environment.string(tokenEnv) else { throw ValidationError("\(tokenEnv) is not set") }
            let sealer = try TokenSealer(environment)
            let client = DigitalOceanClient(baseURL: environment.string("DIGITALOCEAN_API_URL", default: "https://api.digitalocean.com"))
            let account = try await client.account(token: token).value
            let (id, name, limit, primary) = (UUID(), name, dropletLimit, primary)
            let sealed = try sealer.seal(token)
            let added = try await tooling.pool().transaction { connection in
                try DOAccounts.insert(
                    id: id, name: name, sealedToken: sealed, fingerprint: TokenSealer.fingerprint(token), dropletLimit: limit,
                    isPrimary: primary,
                    on: connection)
            }
            guard added else { throw ValidationError("an account with this name or token exists already") }
            print(
                "added \(name) (\(id.uuidString.lowercased())): DigitalOcean account \(account.email), status \(account.status), its own droplet limit \(account.dropletLimit)"
            )
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Accounts with health, limits and droplet counts (never a token).")

        func run() async throws {
            let accounts = try await Tooling().pool().withConnection { try DOAccounts.views(on: $0) }
            for account in accounts {
                print(
                    "\(account.name)\(account.isPrimary ? " (primary)" : "")\(account.active ? "" : " [inactive]"): \(account.health.rawValue), \(account.activeDroplets)/\(account.dropletLimit) droplets"
                        + (account.rateRemaining.map { ", \($0) calls left this hour" } ?? "")
                        + (account.lastError.map { ", last error: \($0)" } ?? ""))
            }
        }
    }

    struct Reseal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Seal every stored token with the current ARMADA_ENCRYPTION_KEY (the last step of a key rotation; tokens open with ARMADA_ENCRYPTION_KEY_PREVIOUS until then)."
        )

        func run() async throws {
            let tooling = try Tooling()
            let sealer = try TokenSealer(tooling.settings.environment)
            // One transaction, rows locked: an account added meanwhile is sealed with the current
            // key already, and no process reads a half-rotated row.
            let (resealed, current) = try await tooling.pool().transaction { connection -> (Int, Int) in
                var resealed = 0
                var current = 0
                for row in try connection.query("SELECT id, token_sealed FROM do_accounts ORDER BY id FOR UPDATE") {
                    let id: UUID = try row.decode("id")
                    let opened = try sealer.openTelling(try row.decode("token_sealed"))
                    if opened.current {
                        current += 1
                        continue
                    }
                    _ = try connection.execute(
                        "UPDATE do_accounts SET token_sealed = $2 WHERE id = $1", id, try sealer.seal(opened.token))
                    resealed += 1
                }
                return (resealed, current)
            }
            print("resealed \(resealed) token(s) with the current key; \(current) already were; ARMADA_ENCRYPTION_KEY_PREVIOUS can go")
        }
    }
}
