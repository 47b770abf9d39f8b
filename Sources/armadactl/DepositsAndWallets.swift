import AMQP
import ArgumentParser
import ArmadaService
import Foundation
import Logging
import Messaging
import Migrations
import Postgres
import Wallet
import WalletContracts

struct DepositCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deposit", abstract: "Deposits (until the customer API creates them).", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a PENDING deposit that Tripay knows by --reference.")
        @Option(help: "Customer id (the JWT sub).") var customer: String
        @Option(help: "Tripay reference.") var reference: String
        @Option(help: "Rupiah to credit when paid.") var amount: Int64
        @Option(help: "Channel fee the customer pays on top.") var fee: Int64 = 0
        @Option(help: "Tripay channel code.") var method: String = "BRIVA"
        @Option(help: "Hours until it expires.") var expiresInHours: Int = 24

        func validate() throws {
            guard amount >= DepositPolicy.minimumAmount else {
                throw ValidationError("--amount must be at least \(DepositPolicy.minimumAmount)")
            }
            guard fee >= 0 else { throw ValidationError("--fee cannot be negative") }
        }

        func run() async throws {
            let tooling = try Tooling()
            let (customer, reference, amount, fee, method) = (customer, reference, amount, fee, method)
            let expires = Date().addingTimeInterval(Double(expiresInHours) * 3600)
            let deposit = try await tooling.pool().transaction { connection in
                try Deposits.insert(
                    NewDeposit(
                        id: UUID(), customerId: customer, amount: amount, fee: fee, method: method, reference: reference, expiresAt: expires
                    ),
                    on: connection)
            }
            guard let deposit else { throw ValidationError("the deposit was not recorded") }
            print(
                "deposit \(deposit.id.uuidString.lowercased()) PENDING: reference \(reference), merchant_ref \(deposit.merchantRef), amount \(deposit.amount), total to pay \(deposit.totalAmount)"
            )
        }
    }
}

struct WalletCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "wallet", abstract: "Wallets.", subcommands: [Balance.self])

    struct Balance: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a customer's balance in rupiah.")
        @Option(help: "Customer id.") var customer: String

        func run() async throws {
            let customer = self.customer
            let balance = try await Tooling().pool().withConnection { try Ledger.balance(of: customer, on: $0) }
            print(balance)
        }
    }
}
