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

/// The prepare step both channels share: claim the delivery, give up when it is too old, send,
/// and record a failed attempt before the runtime retries it (or, at the last attempt, mark it
/// failed as its message goes to the dead-letter queue).
struct DeliveryRun: Sendable {
    let pool: PostgresPool
    /// How long a claim holds (longer than a send can take).
    let claimSeconds: Int
    /// The queue's attempts (`Queues/topology.json`): the run that fails the last one marks the
    /// delivery failed.
    let maxAttempts: Int
    /// A delivery not sent this long after its event is recorded failed, not sent late.
    let maxAge: Duration
    /// The queue's delay tiers, seconds.
    let delayTiers: [Int]

    /// What to ask the runtime for to wait about `seconds`: the longest tier not longer (the
    /// runtime waits in the shortest tier not shorter than what is asked, which could be far
    /// longer), so a wait ends early rather than late; the pacing then makes up the rest.
    func againAfter(_ seconds: Double) -> Duration {
        let tier = delayTiers.sorted().last { Double($0) <= seconds }
        return .milliseconds(Int64(((tier.map(Double.init) ?? seconds) * 1000).rounded(.up)))
    }

    func prepare(
        _ deliveryId: UUID, occurredAt: Date, context: PrepareContext, send: @Sendable (ClaimedDelivery) async throws -> SendStep
    ) async throws -> Preparation<SendOutcome> {
        let giveUpAt = occurredAt.addingTimeInterval(Double(maxAge.components.seconds))
        // The runtime's own deadline is later: this run records the delivery failed first.
        let deadline = giveUpAt.addingTimeInterval(3600)
        let claim = try await pool.transaction { try Deliveries.claim(deliveryId, for: claimSeconds, on: $0) }
        let delivery: ClaimedDelivery
        switch claim {
        case .failure(.settled):
            return .ready(.nothingToDo)
        case .failure(.claimed(let wait)):
            return .finished(.again(after: againAfter(wait), until: deadline, because: "another run holds this delivery"))
        case .success(let claimed):
            delivery = claimed
        }
        if context.time.runAt > giveUpAt {
            return .ready(.expired("not delivered within \(maxAge.components.seconds / 3600) h of the event; not sent late"))
        }
        do {
            switch try await send(delivery) {
            case .outcome(let outcome):
                return .ready(outcome)
            case .again(let after, let reason, let attempted):
                try await pool.transaction { connection in
                    if let attempted {
                        try Deliveries.attemptFailed(deliveryId, error: attempted, final: false, on: connection)
                    } else {
                        try Deliveries.release(deliveryId, on: connection)
                    }
                }
                return .finished(.again(after: againAfter(after), until: deadline, because: reason))
            }
        } catch {
            let final = classify(error) == .poison || context.attempt + 1 >= maxAttempts
            try? await pool.transaction { connection in
                try Deliveries.attemptFailed(
                    deliveryId, error: final ? "gave up after \(context.attempt + 1) attempts: \(error)" : "\(error)", final: final,
                    on: connection)
            }
            context.logger.warning(
                "delivery attempt failed", metadata: ["delivery_id": "\(deliveryId)", "final": "\(final)", "error": "\(error)"])
            throw error
        }
    }
}
