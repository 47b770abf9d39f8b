import Foundation
import Logging
import Postgres

/// One handler run as one transaction: claim the inbox row `(consumer, message id)`, apply the
/// handler's effects, write its outbox rows, record the outcome (and the command's), commit. A
/// claimed row means the message already took effect, and the run is a no-op.
public enum AtomicPhase {
    public enum Outcome: Sendable, Equatable {
        case duplicate
        case applied(sent: Int)
        case rejected(ErrorCode, message: String)
        case again(after: Duration, deadline: Date, reason: String)
    }

    /// Thrown inside the transaction to roll all of it back, inbox claim included.
    private struct Again: Error {
        var after: Duration
        var deadline: Date
        var reason: String
    }

    /// Runs `handler` on an already encoded envelope (what the consumer does per delivery).
    public static func run(
        _ handler: AnyMessageHandler, body: [UInt8], header: EnvelopeHeader, consumer: String, attempt: Int, runAt: Date,
        pool: PostgresPool, logger: Logger, afterPrepare: () -> Void = {}
    ) async throws -> Outcome {
        let time = MessageTime(now: header.occurredAt, runAt: runAt)
        var prepared: (any Sendable)?
        if let prepare = handler.prepare {
            // Do not call out for a message that already took effect.
            if try await pool.withConnection({ try Inbox.contains(consumer: consumer, messageId: header.id, on: $0) }) {
                return .duplicate
            }
            switch try await prepare(body, PrepareContext(pool: pool, logger: logger, time: time, attempt: attempt)) {
            case .ready(let value):
                prepared = value
                afterPrepare()
            case .finished(let outcome):
                return try await record(outcome, header: header, consumer: consumer, pool: pool)
            }
        }
        let preparation = prepared
        do {
            return try await pool.transaction { connection in
                let outcome = try phase(
                    handler, body: body, header: header, consumer: consumer, attempt: attempt, time: time, preparation: preparation,
                    logger: logger, on: connection)
                if case .again(let after, let deadline, let reason) = outcome {
                    throw Again(after: after, deadline: deadline, reason: reason)
                }
                return outcome
            }
        } catch let again as Again {
            return .again(after: again.after, deadline: again.deadline, reason: again.reason)
        }
    }

    /// One message's phase inside a transaction someone else opened and commits: claim the
    /// inbox row, run the handler, record its outcome. On `.again` the caller must roll back
    /// what this wrote (the inbox claim included). Without `handlerSavepoint` (a batch's fast
    /// path) a rejection cannot roll back the handler's writes alone: it comes back as
    /// `.rejected` with nothing recorded, and the caller must roll back and run it alone.
    ///
    /// A batch claims its inbox rows beforehand (`claimed`) and collects the messages its
    /// handlers send in `outbox`, written once before its commit; alone, the run claims its row
    /// and writes what it sent itself.
    static func phase(
        _ handler: AnyMessageHandler, body: [UInt8], header: EnvelopeHeader, consumer: String, attempt: Int, time: MessageTime,
        preparation: (any Sendable)?, logger: Logger, handlerSavepoint: Bool = true, claimed: Bool = false,
        outbox: Outbox.Collector? = nil, on connection: PGConnection
    ) throws -> Outcome {
        if !claimed {
            guard try Inbox.claim(consumer: consumer, header: header, on: connection) else { return .duplicate }
        }
        if handlerSavepoint { try connection.execute("SAVEPOINT handler") }
        var context = HandlerContext(
            connection: connection, logger: logger, time: time, attempt: attempt, correlationId: header.correlationId)
        let outcome = try handler.run(body, preparation, &context)
        switch outcome.kind {
        case .done(let result):
            for write in context.keptOnRejection { try write(connection) }
            if let outbox {
                outbox.pending.append(contentsOf: context.outgoing)
            } else {
                try Outbox.enqueue(context.outgoing, on: connection)
            }
            if let commandId = header.commandId { try Commands.succeed(commandId, result: result, on: connection) }
            return .applied(sent: context.sent)
        case .rejected(let code, let message):
            guard handlerSavepoint else { return .rejected(code, message: message) }
            // The refusal is the outcome: none of the handler's writes or sends stand, but for
            // those it asked to keep.
            try connection.execute("ROLLBACK TO SAVEPOINT handler")
            for write in context.keptOnRejection { try write(connection) }
            try Inbox.recordRejection(consumer: consumer, messageId: header.id, code: code, message: message, on: connection)
            if let commandId = header.commandId { try Commands.fail(commandId, code: code, message: message, on: connection) }
            return .rejected(code, message: message)
        case .again(let after, let deadline, let reason):
            return .again(after: after, deadline: deadline, reason: reason)
        }
    }

    /// A message of a batch (`runBatch`), decoded and ready.
    struct BatchItem: Sendable {
        var handler: AnyMessageHandler
        var body: [UInt8]
        var header: EnvelopeHeader
        var attempt: Int
        var runAt: Date
        var logger: Logger
    }

    /// Why a batch was rolled back: the message at `index` did not simply take effect (it threw,
    /// was rejected, or asked to wait), or the transaction itself failed (`index` nil).
    struct BatchSplit: Error {
        var index: Int?
        var error: Error?
    }

    /// Several plain (non-preparing) messages in one transaction, committed once: one commit's
    /// cost spread over the batch, and no savepoints on the way. All take effect (or were
    /// duplicates), or nothing does: the first message that throws, is rejected or asks to wait
    /// rolls the batch back, and `BatchSplit` says which, so the caller runs that one alone and
    /// the others again without it.
    static func runBatch(_ items: [BatchItem], consumer: String, pool: PostgresPool) async throws -> [Outcome] {
        do {
            return try await pool.transaction { connection in
                // One statement claims every message's inbox row, one writes everything sent.
                var unclaimed = try Inbox.claimAll(consumer: consumer, headers: items.map(\.header), on: connection)
                let outbox = Outbox.Collector()
                var outcomes: [Outcome] = []
                for (index, item) in items.enumerated() {
                    // A message twice in a batch takes effect at its first place.
                    guard unclaimed.remove(item.header.id) != nil else {
                        outcomes.append(.duplicate)
                        continue
                    }
                    let outcome: Outcome
                    do {
                        outcome = try phase(
                            item.handler, body: item.body, header: item.header, consumer: consumer, attempt: item.attempt,
                            time: MessageTime(now: item.header.occurredAt, runAt: item.runAt), preparation: nil, logger: item.logger,
                            handlerSavepoint: false, claimed: true, outbox: outbox, on: connection)
                    } catch {
                        throw BatchSplit(index: index, error: error)
                    }
                    switch outcome {
                    case .applied, .duplicate: outcomes.append(outcome)
                    case .rejected, .again: throw BatchSplit(index: index, error: nil)
                    }
                }
                try Outbox.enqueue(outbox.pending, on: connection)
                return outcomes
            }
        } catch let split as BatchSplit {
            throw split
        } catch {
            throw BatchSplit(index: nil, error: error)
        }
    }

    /// Records an outcome decided before the phase (by `prepare`) with the inbox row.
    private static func record(_ outcome: HandlerOutcome, header: EnvelopeHeader, consumer: String, pool: PostgresPool) async throws
        -> Outcome
    {
        switch outcome.kind {
        case .again(let after, let deadline, let reason):
            return .again(after: after, deadline: deadline, reason: reason)
        case .done(let result):
            return try await pool.transaction { connection in
                guard try Inbox.claim(consumer: consumer, header: header, on: connection) else { return .duplicate }
                if let commandId = header.commandId { try Commands.succeed(commandId, result: result, on: connection) }
                return .applied(sent: 0)
            }
        case .rejected(let code, let message):
            return try await pool.transaction { connection in
                guard try Inbox.claim(consumer: consumer, header: header, on: connection) else { return .duplicate }
                try Inbox.recordRejection(consumer: consumer, messageId: header.id, code: code, message: message, on: connection)
                if let commandId = header.commandId { try Commands.fail(commandId, code: code, message: message, on: connection) }
                return .rejected(code, message: message)
            }
        }
    }

    /// Runs `handler` on one typed envelope, exactly as a consumer would (tests, tools).
    public static func run<Handler: MessageHandler>(
        _ handler: Handler, _ envelope: Envelope<Handler.Body>, consumer: String, runAt: Date? = nil, pool: PostgresPool,
        logger: Logger
    ) async throws -> Outcome {
        try await run(AnyMessageHandler(handler), envelope, consumer: consumer, runAt: runAt, pool: pool, logger: logger)
    }

    public static func run<Body: MessageBody>(
        _ handler: AnyMessageHandler, _ envelope: Envelope<Body>, consumer: String, runAt: Date? = nil, pool: PostgresPool,
        logger: Logger
    ) async throws -> Outcome {
        try await run(
            handler, body: try envelope.encoded(), header: envelope.header, consumer: consumer, attempt: 0,
            runAt: runAt ?? envelope.occurredAt, pool: pool, logger: logger)
    }
}
