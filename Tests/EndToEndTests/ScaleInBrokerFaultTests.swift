import AMQP
import ArmadaTestSupport
import Foundation
import Glibc
import Messaging
import Testing

/// Scale-in while the broker restarts or is frozen. Part of the fault suite (it stops and
/// freezes the shared broker), which `Deploy/local/test.sh` runs on its own.
@Suite(
    "Scale-in under broker faults", .serialized, .enabled(if: ProcessInfo.processInfo.environment["ARMADA_FAULT_TESTS"] == "1"))
struct ScaleInBrokerFaultTests {
    let amqpURL = TestEnvironment.isolatedAMQPURL + "?heartbeat=2"

    @Test("workers stopped while the broker restarts exit within the deadline with status 0; nothing lost", .timeLimit(.minutes(4)))
    func stopDuringBrokerRestart() async throws {
        let broker = try await brokerClient(amqpURL)
        try await broker.perform { try $0.purgeQueue("armada.payments") }
        var load = ScaleIn(amqpURL: amqpURL)
        try await load.startWorkers(2)
        try await load.publishLoad(300, on: broker)
        try await TestEnvironment.stack("rabbit-stop")
        for result in await ScaleIn.stop(load.workers) {
            #expect(result.status == 0, "broker down: exit \(String(describing: result.status))\n\(result.log)")
            #expect(result.took < ScaleIn.stopBound, "broker down: took \(result.took)")
        }
        try await TestEnvironment.stack("rabbit-start")
        try await broker.waitUntilConnected(timeout: .seconds(60))
        try await load.drainWithFreshWorkerAndVerify(broker: broker)
    }

    @Test(
        "workers stopped while the broker is frozen exit within the deadline (0, or 1 when the deadline cut the stop short); nothing lost",
        .timeLimit(.minutes(4)))
    func stopWhileBrokerFrozen() async throws {
        let broker = try await brokerClient(amqpURL)
        try await broker.perform { try $0.purgeQueue("armada.payments") }
        var load = ScaleIn(amqpURL: amqpURL)
        try await load.startWorkers(2)
        try await load.publishLoad(300, on: broker)
        let pid = try TestEnvironment.brokerPID()
        #expect(kill(pid, SIGSTOP) == 0)
        let results = await ScaleIn.stop(load.workers)
        kill(pid, SIGCONT)
        for result in results {
            #expect(result.status == 0 || result.status == 1, "frozen broker: exit \(String(describing: result.status))\n\(result.log)")
            #expect(result.took < ScaleIn.stopBound, "frozen broker: took \(result.took)")
        }
        try await broker.waitUntilConnected(timeout: .seconds(60))
        try await load.drainWithFreshWorkerAndVerify(broker: broker)
    }
}
