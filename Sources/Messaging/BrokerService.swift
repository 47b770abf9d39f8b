import AMQP
import ServiceLifecycle

/// Keeps `BrokerClient`s open for the life of a `ServiceGroup`. Register it before the
/// services that use the clients: the group stops services in reverse order, so the
/// connections close last, after consumers finished, their acks went out and the outbox was
/// flushed. On cancellation it closes them too, without waiting for the broker.
public struct BrokerService: Service {
    public let clients: [BrokerClient]

    public init(clients: [BrokerClient]) {
        self.clients = clients
    }

    public init(client: BrokerClient) {
        self.init(clients: [client])
    }

    public func run() async throws {
        for client in clients { client.start() }
        try? await gracefulShutdown()
        for client in clients { await client.close() }
    }
}
