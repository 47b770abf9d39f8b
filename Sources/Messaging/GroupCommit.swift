import Foundation
import Logging
import Postgres
import Synchronization

/// Group commit for plain handlers: a message submitted while `maxRunning` batches are in their
/// transactions waits, and the next batch takes every message that waited (up to `maxBatch`).
/// A message that does not simply take effect (it throws, is rejected, waits) is split off and
/// runs alone; its batch-mates commit without it, so one bad message never blocks the others.
/// Nothing waits on purpose — an idle worker commits a lone message at once — but under load
/// one commit (and its fsync) carries many messages. Each submitter gets its own message's
/// result once its batch committed, and acks only then.
final class GroupCommit: Sendable {
    struct Pending: Sendable {
        var item: AtomicPhase.BatchItem
        var continuation: CheckedContinuation<Result<AtomicPhase.Outcome, Error>, Never>
    }

    private struct State {
        var pending: [Pending] = []
        var running = 0
    }

    private let state = Mutex(State())
    let maxBatch: Int
    let maxRunning: Int
    let consumer: String
    let pool: PostgresPool

    init(maxBatch: Int, maxRunning: Int, consumer: String, pool: PostgresPool) {
        self.maxBatch = max(1, maxBatch)
        self.maxRunning = max(1, maxRunning)
        self.consumer = consumer
        self.pool = pool
    }

    /// Runs the message in the next batch; returns its outcome or its own error.
    func submit(_ item: AtomicPhase.BatchItem) async -> Result<AtomicPhase.Outcome, Error> {
        await withCheckedContinuation { continuation in
            let batch = state.withLock { state -> [Pending]? in
                state.pending.append(Pending(item: item, continuation: continuation))
                guard state.running < maxRunning else { return nil }
                state.running += 1
                return Self.take(&state, maxBatch)
            }
            if let batch { Task { await self.drain(from: batch) } }
        }
    }

    private static func take(_ state: inout State, _ limit: Int) -> [Pending] {
        let batch = Array(state.pending.prefix(limit))
        state.pending.removeFirst(batch.count)
        return batch
    }

    /// Runs batches until nothing waits.
    private func drain(from first: [Pending]) async {
        var batch = first
        while true {
            await run(batch)
            let next = state.withLock { state -> [Pending]? in
                guard !state.pending.isEmpty else {
                    state.running -= 1
                    return nil
                }
                return Self.take(&state, maxBatch)
            }
            guard let next else { return }
            batch = next
        }
    }

    private func run(_ batch: [Pending]) async {
        guard batch.count > 1 else {
            batch[0].continuation.resume(returning: await alone(batch[0].item))
            return
        }
        do {
            let outcomes = try await AtomicPhase.runBatch(batch.map(\.item), consumer: consumer, pool: pool)
            RuntimeMetrics.batchSize.record(batch.count)
            for (pending, outcome) in zip(batch, outcomes) { pending.continuation.resume(returning: .success(outcome)) }
        } catch let split as AtomicPhase.BatchSplit {
            guard let index = split.index else {
                // The transaction failed as a whole (the connection, the commit). A failure the
                // same run may meet again (the database away) goes to every message as it is:
                // each takes its own retry path at once, and the inbox absorbs a commit that did
                // happen. Anything else: each message runs alone.
                // A write queued by one message that failed at the commit is that message's
                // failure, not the database's: each runs alone, and only that one fails again.
                if let error = split.error, classify(error) == .transient, (error as? PostgresError)?.fromQueuedWrite != true {
                    for pending in batch { pending.continuation.resume(returning: .failure(error)) }
                } else {
                    for pending in batch { pending.continuation.resume(returning: await alone(pending.item)) }
                }
                return
            }
            // The split, in the batch's order: the messages before it commit again together, the
            // one that did not simply take effect runs alone (its rejection recorded, its wait or
            // its failure taken care of), then the ones after it. A later message never overtakes
            // an earlier one (a cancel its deposit's payment came before).
            RuntimeMetrics.batchSplits.increment()
            if index > 0 { await run(Array(batch[..<index])) }
            batch[index].continuation.resume(returning: await alone(batch[index].item))
            if index + 1 < batch.count { await run(Array(batch[(index + 1)...])) }
        } catch {
            // runBatch throws only BatchSplit; nothing else reaches here.
            for pending in batch { pending.continuation.resume(returning: await alone(pending.item)) }
        }
    }

    /// One message, one transaction: the plain path.
    private func alone(_ item: AtomicPhase.BatchItem) async -> Result<AtomicPhase.Outcome, Error> {
        do {
            return .success(
                try await AtomicPhase.run(
                    item.handler, body: item.body, header: item.header, consumer: consumer, attempt: item.attempt, runAt: item.runAt,
                    pool: pool, logger: item.logger))
        } catch {
            return .failure(error)
        }
    }
}

/// At most `permits` holders at once, for async code.
final class AsyncLimit: Sendable {
    private struct State {
        var available: Int
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(permits: Int) {
        state = Mutex(State(available: max(1, permits)))
    }

    func run<T>(_ body: () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { continuation in
            let granted = state.withLock { state -> Bool in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiting.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiting.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
