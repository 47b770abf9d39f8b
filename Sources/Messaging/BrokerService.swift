import AMQP
import ServiceLifecycle

/// Keeps a `BrokerClient` open for the life of a `ServiceGroup`. Register it before the
/// services that use the client: the group stops services in reverse order, so the connection
/// closes last, after consumers finished and their acks went out.
public struct BrokerService: Service {
    public let client: BrokerClient

    public init(client: BrokerClient) {
        self.client = client
    }

    public func run() async throws {
        client.start()
        try? await gracefulShutdown()
        await client.close()
    }
}
