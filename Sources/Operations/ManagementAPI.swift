import Curl
import Foundation

/// RabbitMQ's management HTTP API (the `rabbitmq_management` plugin), read only: per-queue
/// ready and unacknowledged counts, consumers and rates, which AMQP's passive declare does not
/// give. `RABBITMQ_MANAGEMENT_URL` is `http://user:password@host:port`; the vhost is the one of
/// `AMQP_URL`.
public struct ManagementAPI: Sendable {
    public struct QueueStats: Sendable, Equatable {
        public var ready: Int
        public var unacknowledged: Int
        public var consumers: Int
        public var publishRate: Double
        public var deliverRate: Double
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    let base: String
    let authorization: String?
    let vhost: String
    let http: CurlClient

    /// `url` as in `RABBITMQ_MANAGEMENT_URL`; `amqpURL` names the vhost.
    public init(url: String, amqpURL: String, http: CurlClient = CurlClient()) throws {
        guard var components = URLComponents(string: url), let host = components.host, components.scheme?.hasPrefix("http") == true
        else { throw Failure(description: "RABBITMQ_MANAGEMENT_URL is not an http(s) URL") }
        if let user = components.user {
            let credentials = "\(user.removingPercentEncoding ?? user):\(components.password?.removingPercentEncoding ?? "")"
            authorization = "Basic " + Data(credentials.utf8).base64EncodedString()
        } else {
            authorization = nil
        }
        components.user = nil
        components.password = nil
        components.path = ""
        base = components.string ?? "http://\(host)"
        vhost = Self.vhost(ofAMQPURL: amqpURL)
        self.http = http
    }

    /// The virtual host an AMQP URL names (`/` when it names none).
    public static func vhost(ofAMQPURL url: String) -> String {
        // A cluster's list names one vhost in every URL.
        let first = url.split(separator: ",").first.map(String.init) ?? url
        let path = URLComponents(string: first)?.percentEncodedPath ?? ""
        let encoded = path.hasPrefix("/") ? String(path.dropFirst()) : path
        return encoded.isEmpty ? "/" : (encoded.removingPercentEncoding ?? encoded)
    }

    /// Every queue of the vhost by name.
    public func queues() async throws -> [String: QueueStats] {
        let escapedVhost = vhost.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? vhost
        let columns = "name,messages_ready,messages_unacknowledged,consumers,message_stats"
        var headers: [(name: String, value: String)] = [("Accept", "application/json")]
        if let authorization { headers.append(("Authorization", authorization)) }
        let response = try await http.send(
            HTTPRequest(url: "\(base)/api/queues/\(escapedVhost)?columns=\(columns)", headers: headers, connectTimeout: 2, timeout: 10))
        guard response.status == 200 else {
            throw Failure(description: "the management API answered \(response.status) for /api/queues/\(vhost)")
        }
        let rows = try JSONDecoder().decode([Row].self, from: Data(response.body))
        var result: [String: QueueStats] = [:]
        for row in rows {
            result[row.name] = QueueStats(
                ready: row.messages_ready ?? 0, unacknowledged: row.messages_unacknowledged ?? 0, consumers: row.consumers ?? 0,
                publishRate: row.message_stats?.publish_details?.rate ?? 0,
                deliverRate: row.message_stats?.deliver_get_details?.rate ?? 0)
        }
        return result
    }

    // The API's own field names.
    // swift-format-ignore: AlwaysUseLowerCamelCase
    struct Row: Decodable {
        struct Rate: Decodable { var rate: Double? }
        struct Stats: Decodable {
            var publish_details: Rate?
            var deliver_get_details: Rate?
        }
        var name: String
        var messages_ready: Int?
        var messages_unacknowledged: Int?
        var consumers: Int?
        var message_stats: Stats?
    }
}
