import AMQP
import ArmadaTestSupport
import Foundation
import Glibc
import Messaging
import Testing

extension IsolatedProcessTests {
    @Test(
        "workers scaled in one at a time and all together, busy or just drained, each stop within the deadline with status 0",
        .timeLimit(.minutes(4)))
    func scaleInUnderLoad() async throws {
        let broker = try await brokerClient(amqpURL)
        try await broker.perform { try $0.purgeQueue("armada.payments") }
        var load = ScaleIn(amqpURL: amqpURL)
        try await load.startWorkers(3)
        for round in 0..<4 {
            try await load.publishLoad(150, on: broker)
            // While the queue is busy: stop one at a random moment, and start a replacement.
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...400)))
            let victim = load.workers.removeFirst()
            for result in await ScaleIn.stop([victim]) {
                #expect(result.status == 0, "round \(round), busy: exit \(String(describing: result.status))\n\(result.log)")
                #expect(result.took < ScaleIn.stopBound, "round \(round), busy: took \(result.took)")
            }
            try await load.startWorkers(1)
        }
        // Right after the queue drains: stop every worker at once.
        let drained = await eventually(timeout: .seconds(90)) { (try? await broker.queueStatus("armada.payments").messages) == 0 }
        #expect(drained)
        for result in await ScaleIn.stop(load.workers) {
            #expect(result.status == 0, "drained, all at once: exit \(String(describing: result.status))\n\(result.log)")
            #expect(result.took < ScaleIn.stopBound, "drained, all at once: took \(result.took)")
        }
        try await load.drainWithFreshWorkerAndVerify(broker: broker)
    }
}
