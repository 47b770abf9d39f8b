import ArmadaTestSupport
import Foundation
import Logging
import Messaging
import Testing

@Suite("Periodic jobs against a real PostgreSQL")
struct PeriodicServiceTests {
    @Test("an exclusive job runs once per interval however many processes race for it")
    func exclusiveRunsOnce() async throws {
        let pool = TestDatabase.pool(size: 4, name: "periodic-tests")
        let runs = Shared(0)
        let job = PeriodicJob(name: TestEnvironment.unique("test.exclusive"), every: .seconds(3600), exclusive: true) { _ in
            runs.update { $0 += 1 }
        }
        let services = (0..<4).map { PeriodicService(job: job, pool: pool, holder: "process-\($0)", logger: Logger(label: "t")) }
        let ran = await withTaskGroup(of: Bool.self) { group in
            for service in services { group.addTask { await service.runOnce() } }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(ran.filter { $0 }.count == 1)
        #expect(runs.value == 1)
        // Within the interval, nobody runs it again.
        #expect(await services[2].runOnce() == false)
        #expect(runs.value == 1)
    }

    @Test("a job that is not exclusive runs in every process; a failing run does not stop the next")
    func sharedJobRunsEverywhere() async throws {
        let pool = TestDatabase.pool(size: 2, name: "periodic-tests")
        let runs = Shared(0)
        let job = PeriodicJob(name: TestEnvironment.unique("test.shared"), every: .seconds(3600), exclusive: false) { _ in
            runs.update { $0 += 1 }
            if runs.value == 1 { throw RetryLater("first run fails") }
        }
        let service = PeriodicService(job: job, pool: pool, holder: "p", logger: Logger(label: "t"))
        #expect(await service.runOnce() == false, "the failed run reports it did not complete")
        #expect(await service.runOnce())
        #expect(await PeriodicService(job: job, pool: pool, holder: "q", logger: Logger(label: "t")).runOnce())
        #expect(runs.value == 3)
    }
}
