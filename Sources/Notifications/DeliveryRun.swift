import Foundation
import Logging
import Messaging
import Postgres

/// What a channel's send came to.
enum SendStep: Sendable {
    case outcome(SendOutcome)
    /// Not now (a pacing slot, a 429): run again after `after` seconds without spending a retry.
    /// `attempted` is the failure to record when a request was made (a 429).
    case again(after: Double, reason: String, attempted: String?)
}

/// The prepare step both channels share: claim the delivery, send, record the answer at once,
/// and record a failed attempt before the runtime retries it (or, at the last attempt, mark it
/// failed as its message goes to the dead-letter queue).
struct DeliveryRun: Sendable {
    let pool: PostgresPool
    /// How long a claim holds (longer than a send can take).
    let claimSeconds: Int
    /// The queue's attempts (`Queues/topology.json`): the run that fails the last one marks the
    /// delivery failed.
    let maxAttempts: Int
    /// How long a delivery may wait (pacing, 429s) before its message is dead-lettered.
    let maxAge: Duration

    func prepare(
        _ deliveryId: UUID, context: PrepareContext, send: @Sendable (ClaimedDelivery) async throws -> SendStep
    ) async throws -> Preparation<SendResult> {
        let claim = try await pool.transaction { try Deliveries.claim(deliveryId, for: claimSeconds, on: $0) }
        let delivery: ClaimedDelivery
        switch claim {
        case .failure(.settled):
            return .ready(SendResult(holder: nil, outcome: .nothingToDo))
        case .failure(.claimed(let wait)):
            return .finished(
                .again(
                    after: .seconds(wait), until: context.time.runAt.addingTimeInterval(Double(maxAge.components.seconds)),
                    because: "another run holds this delivery"))
        case .success(let claimed):
            delivery = claimed
        }
        // Waiting (pacing, 429s) ends this long after the delivery was recorded: dead-lettered
        // `deadline-passed`, and the abandoned-delivery sweep shows it failed.
        let deadline = delivery.createdAt.addingTimeInterval(Double(maxAge.components.seconds))
        do {
            switch try await send(delivery) {
            case .outcome(let outcome):
                let result = SendResult(holder: delivery.holder, outcome: outcome)
                await recordNow(deliveryId, result, context: context)
                return .ready(result)
            case .again(let after, let reason, let attempted):
                try await pool.transaction { connection in
                    if let attempted {
                        try Deliveries.attemptFailed(delivery, error: attempted, final: false, on: connection)
                    } else {
                        try Deliveries.release(delivery, on: connection)
                    }
                }
                // The runtime waits in the longest delay tier not longer than this, so a wait ends
                // early rather than late, and the pacing then makes up the rest.
                return .finished(.again(after: .seconds(after), until: deadline, because: reason))
            }
        } catch {
            let final = classify(error) == .poison || context.attempt + 1 >= maxAttempts
            try? await pool.transaction { connection in
                try Deliveries.attemptFailed(
                    delivery, error: final ? "gave up after \(context.attempt + 1) attempts: \(error)" : "\(error)", final: final,
                    on: connection)
            }
            context.logger.warning(
                "delivery attempt failed", metadata: ["delivery_id": "\(deliveryId)", "final": "\(final)", "error": "\(error)"])
            throw error
        }
    }

    /// Records what the provider answered at once, before the atomic phase: were that phase to
    /// fail (the database restarting), the retry finds the delivery settled instead of sending
    /// it again. Tried a few times; if the database stays away, the atomic phase records it.
    private func recordNow(_ deliveryId: UUID, _ result: SendResult, context: PrepareContext) async {
        for pause in [0, 200, 1000] {
            if pause > 0 { try? await Task.sleep(for: .milliseconds(pause)) }
            do {
                try await pool.transaction { try Deliveries.settle(deliveryId, as: result, on: $0) }
                return
            } catch {
                context.logger.warning("could not record the send yet", metadata: ["delivery_id": "\(deliveryId)", "error": "\(error)"])
            }
        }
    }
}
