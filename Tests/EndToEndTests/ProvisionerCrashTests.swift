import AMQP
import ArmadaTestSupport
import Curl
import Foundation
import Glibc
import Messaging
import OrdersContracts
import Postgres
import Testing
import WalletContracts

@testable import Provisioning
@testable import Wallet

/// A provisioner killed between DigitalOcean's answer and its commit, on the isolated vhost (no
/// shared worker consumes there): the redelivery adopts the droplet by its tag.
@Suite("Provisioner killed after the create, before the commit", .serialized)
struct ProvisionerCrashTests {
    let pool = TestDatabase.pool(size: 2, name: "e2e-crash")
    let amqpURL = TestEnvironment.isolatedAMQPURL

    func provisioner(crash: Bool) async throws -> ChildProcess {
        let digitalOcean = await RunningSystem.shared.digitalOceanURL
        var extra = [
            "DIGITALOCEAN_API_URL": digitalOcean, "ARMADA_DROPLET_POLL_SECONDS": "1", "ARMADA_CREATE_LEASE_SECONDS": "5",
            "ARMADA_AMBIGUOUS_CREATE_QUIET_SECONDS": "0", "DIGITALOCEAN_REQUESTS_PER_MINUTE": "250",
            // The same compressed burst window as the shared provisioner: one budget, one measure.
            "DIGITALOCEAN_RATE_WINDOW_SECONDS": "\(RunningSystem.shared.rateWindow)",
        ]
        if crash { extra["ARMADA_FAULT_CRASH_AFTER_PREPARE"] = ProvisionOrder.messageType }
        let (process, _, metrics) = try launch("armada-provisioner", amqpURL: amqpURL, extra: extra)
        guard await waitForHTTP("http://127.0.0.1:\(metrics)/health") else {
            throw TestFailure("provisioner did not start: \(process.log)")
        }
        return process
    }

    @Test("the droplet DigitalOcean made before the crash is adopted: exactly one droplet, one debit, ACTIVE")
    func crashAfterCreate() async throws {
        _ = try await RunningSystem.shared.baseURL()
        let broker = try await brokerClient(amqpURL)
        try await broker.perform { try $0.purgeQueue("armada.provisioning") }
        let customer = TestEnvironment.unique("cust")
        let orderId = UUID()
        let hostname = "crash-" + orderId.uuidString.prefix(8).lowercased()
        // A paid order, as PlaceOrderHandler leaves it.
        let place = PlaceOrder(
            orderId: orderId, customerId: customer, planId: UUID(uuidString: OrderEndToEndTests.basicPlan)!, planName: "basic",
            sizeSlug: "s-1vcpu-1gb", image: "debian-12-x64", region: "sgp1", billingPeriod: .monthly, price: 50_000, hostname: hostname,
            sshKeys: [], autoRenew: true)
        try await pool.transaction { connection in
            _ = try Ledger.credit(
                customer, amount: 50_000, reference: .adminAdjustment, referenceId: "seed-\(customer)", description: "test", on: connection)
            _ = try Orders.insert(place, commandId: nil, at: Date(), on: connection)
            _ = try Ledger.debit(
                customer, amount: 50_000, reference: .vpsOrder, referenceId: OrderFailure.reference(orderId, round: 1), description: "test",
                on: connection)
            try Orders.transition(
                orderId, from: [.pending], to: .processing, actor: "test", reason: "paid", at: Date(),
                set: "paid_at = now(), provisioning_deadline = now() + interval '10 minutes'", on: connection)
        }

        let doomed = try await provisioner(crash: true)
        defer { doomed.signal(SIGKILL) }
        try await broker.publish(
            Envelope(
                id: ProvisionOrder.id(orderId: orderId, round: 1), data: ProvisionOrder(orderId: orderId, round: 1), occurredAt: Date()))
        #expect(await eventually(timeout: .seconds(30)) { doomed.status != nil }, "the provisioner exits after DigitalOcean answered")
        #expect(doomed.status == 87)
        let base = await RunningSystem.shared.digitalOceanURL
        func sim(_ path: String) async throws -> [String: Any] { json(try await CurlClient().send(HTTPRequest(url: base + path))) }
        #expect((try await sim("/_sim/droplets?tag_name=order-\(orderId.uuidString.lowercased())")["droplets"] as? [Any])?.count == 1)
        let status: String? = try await pool.withConnection {
            try $0.query("SELECT status FROM orders WHERE id = $1", orderId).first?.decode("status")
        }
        #expect(status == "PROCESSING", "nothing was committed")

        let survivor = try await provisioner(crash: false)
        defer { survivor.signal(SIGKILL) }
        let active = await eventually(timeout: .seconds(60), every: .milliseconds(200)) {
            let status: String? = try? await pool.withConnection {
                try $0.query("SELECT status FROM orders WHERE id = $1", orderId).first?.decode("status")
            }
            return status == "ACTIVE"
        }
        #expect(active, "provisioner log:\n\(survivor.log.suffix(3000))")
        #expect((try await sim("/_sim/droplets?tag_name=order-\(orderId.uuidString.lowercased())")["droplets"] as? [Any])?.count == 1)
        #expect(try await sim("/_sim/droplets?name=\(hostname)")["creates"] as? Int == 1, "DigitalOcean was asked to create once")
        let history = try await pool.withConnection { try Orders.history(orderId, on: $0) }.compactMap(\.reason)
        #expect(history.contains { $0.contains("adopted") })
        let debits: Int = try await pool.withConnection {
            try $0.query("SELECT count(*)::int AS n FROM ledger_entries WHERE customer_id = $1 AND reference_type = 'VPS_ORDER'", customer)
                .first!
                .decode("n")
        }
        #expect(debits == 1)
        await broker.close()
    }
}
