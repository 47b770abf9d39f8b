import Foundation

/// `runtime.command-stalled`: the stall of a command the database could not record when its
/// message was dead-lettered (it was down). The runtime sends it to its own work queue and
/// records it once the database answers again. (An outage longer than the queue's retries, about
/// 15 minutes, dead-letters this message too: replaying the dead letters settles it.) Every
/// consumer handles it; it is part of the runtime, not of an area's catalogue.
public struct CommandStalled: MessageBody, Equatable {
    public static let messageType = "runtime.command-stalled"
    public static let exchange = Exchange.commands

    public var commandId: UUID
    public var code: ErrorCode
    public var message: String

    public init(commandId: UUID, code: ErrorCode, message: String) {
        self.commandId = commandId
        self.code = code
        self.message = message
    }
}

struct CommandStalledHandler: MessageHandler {
    func handle(_ message: Envelope<CommandStalled>, context: inout HandlerContext) throws -> HandlerOutcome {
        try Commands.stall(message.data.commandId, code: message.data.code, message: message.data.message, on: context.connection)
        return .done
    }
}
