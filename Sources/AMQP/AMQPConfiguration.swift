import Foundation

/// Where and how to connect, parsed from an `AMQP_URL`
/// (`amqp://user:pass@host:port/vhost`, `amqps://` for TLS with peer verification). A cluster is
/// a comma-separated list of such URLs, one per node, alike but for host and port: a connection
/// goes to the first node that answers, and after a failed attempt the next node is tried.
public struct AMQPConfiguration: Sendable, Equatable {
    public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        public var description: String { "\(host):\(port)" }
    }

    /// The first node; `endpoints` lists them all.
    public var host: String
    public var port: Int
    /// Every node to try, in order; empty means `host`:`port` alone.
    public var alternates: [Endpoint] = []
    public var endpoints: [Endpoint] { alternates.isEmpty ? [Endpoint(host: host, port: port)] : alternates }
    public var user: String
    public var password: String
    public var virtualHost: String
    public var useTLS: Bool
    /// CA bundle for TLS peer verification; the system bundle by default.
    public var caCertificatePath: String
    /// Seconds between heartbeats; a broker silent for twice this is treated as lost.
    public var heartbeat: Int
    /// Seconds any single broker round trip (declare, qos, consume, cancel) may take.
    public var rpcTimeout: Double
    /// Seconds a TCP/TLS connect may take.
    public var connectTimeout: Double
    /// Seconds a publish waits for its confirm before it throws `confirmTimeout`.
    public var confirmTimeout: Double
    /// A name the broker shows for this connection.
    public var connectionName: String

    public init(
        host: String = "127.0.0.1", port: Int = 5672, user: String = "guest", password: String = "guest",
        virtualHost: String = "/", useTLS: Bool = false,
        caCertificatePath: String = "/etc/ssl/certs/ca-certificates.crt",
        heartbeat: Int = 30, rpcTimeout: Double = 10, connectTimeout: Double = 5, confirmTimeout: Double = 15,
        connectionName: String = "armada"
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.virtualHost = virtualHost
        self.useTLS = useTLS
        self.caCertificatePath = caCertificatePath
        self.heartbeat = heartbeat
        self.rpcTimeout = rpcTimeout
        self.connectTimeout = connectTimeout
        self.confirmTimeout = confirmTimeout
        self.connectionName = connectionName
    }

    /// Parses `amqp[s]://[user[:password]@]host[:port][/vhost][?heartbeat=N&connection_timeout=S]`.
    /// The vhost is percent-decoded (`%2f` is `/`); an empty path is the default vhost `/`.
    public init(url: String) throws {
        let nodes = url.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        if nodes.count > 1 {
            let each = try nodes.map { try AMQPConfiguration(url: $0) }
            self = each[0]
            for other in each.dropFirst() {
                guard other.user == user, other.password == password, other.virtualHost == virtualHost, other.useTLS == useTLS,
                    other.heartbeat == heartbeat
                else {
                    throw AMQPError(.configuration, "every URL of an AMQP_URL list must differ only in host and port")
                }
            }
            alternates = each.map { Endpoint(host: $0.host, port: $0.port) }
            return
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "amqp" || scheme == "amqps"
        else {
            throw AMQPError(.configuration, "AMQP_URL must look like amqp://user:pass@host:port/vhost, got '\(url)'")
        }
        self.init()
        useTLS = scheme == "amqps"
        host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        port = components.port ?? (useTLS ? 5671 : 5672)
        user = components.user ?? "guest"
        password = components.password ?? "guest"
        let path = components.percentEncodedPath
        if path.isEmpty || path == "/" {
            virtualHost = "/"
        } else {
            virtualHost = String(path.dropFirst()).removingPercentEncoding ?? String(path.dropFirst())
        }
        for item in components.queryItems ?? [] {
            guard let value = item.value else { continue }
            switch item.name {
            case "heartbeat":
                guard let seconds = Int(value), seconds >= 0 else {
                    throw AMQPError(.configuration, "heartbeat must be a whole number of seconds")
                }
                heartbeat = seconds
            case "connection_timeout":
                guard let seconds = Double(value), seconds > 0 else {
                    throw AMQPError(.configuration, "connection_timeout must be a positive number of seconds")
                }
                connectTimeout = seconds
            case "cacertfile":
                caCertificatePath = value
            default:
                continue
            }
        }
    }
}
