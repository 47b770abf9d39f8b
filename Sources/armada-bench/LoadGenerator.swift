import CBenchPoll
import Crypto
import Foundation
import Tripay

#if canImport(Glibc)
    import Glibc
#endif

/// An open-loop HTTP/1.1 load generator (wrk2's idea): request i is due at start + i / rate,
/// whether or not earlier ones were answered, and its latency counts from when it was due, so a
/// stalled server shows in the figures instead of slowing the generator down (no coordinated
/// omission). One thread, `connections` keep-alive connections and `poll`; a due request waits
/// for a free connection, and that wait is part of its latency.
struct LoadGenerator {
    struct Result {
        var offered: Int
        var sent: Int
        var completed: Int
        var statuses: [Int: Int]
        var errors: Int
        /// Completed per second over the time from the first request due to the last answer.
        var achieved: Double
        /// From due to answered, milliseconds, sorted.
        var latencies: [Double]
        /// Wall-clock (Unix seconds) when each request was written, by index.
        var sentAt: [Double]

        func percentile(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return .nan }
            let rank = min(latencies.count - 1, max(0, Int((p / 100 * Double(latencies.count)).rounded(.up)) - 1))
            return latencies[rank]
        }
    }

    let host: String
    let port: UInt16
    let requests: [[UInt8]]
    let rate: Double
    let connections: Int
    /// How long after the last request was due the generator waits for answers.
    let grace: Double

    private final class Connection {
        var fd: Int32 = -1
        var busy: Int? = nil
        var buffer: [UInt8] = []
    }

    func run() throws -> Result {
        let pool = try (0..<connections).map { _ -> Connection in
            let connection = Connection()
            connection.fd = try connect()
            return connection
        }
        defer { for connection in pool where connection.fd >= 0 { close(connection.fd) } }
        let total = requests.count
        var due = [UInt64](repeating: 0, count: total)
        var latencies: [Double] = []
        latencies.reserveCapacity(total)
        var sentAt = [Double](repeating: 0, count: total)
        var statuses: [Int: Int] = [:]
        var errors = 0
        var next = 0
        var sent = 0
        var completed = 0
        var waiting: [Int] = []
        var waitingHead = 0
        let interval = 1e9 / rate
        let start = Self.now()
        let deadline = start + UInt64((Double(total) / rate + grace) * 1e9)
        var lastAnswer = start
        var readBuffer = [UInt8](repeating: 0, count: 65536)
        var descriptors = [pollfd](repeating: pollfd(), count: connections)

        while completed + errors < total {
            let now = Self.now()
            if now > deadline { break }
            while next < total, start + UInt64(Double(next) * interval) <= now {
                due[next] = start + UInt64(Double(next) * interval)
                waiting.append(next)
                next += 1
            }
            for connection in pool where connection.busy == nil && waitingHead < waiting.count {
                let index = waiting[waitingHead]
                waitingHead += 1
                sentAt[index] = Date().timeIntervalSince1970
                if write(all: requests[index], to: connection.fd) {
                    connection.busy = index
                    sent += 1
                } else {
                    errors += 1
                    reconnect(connection)
                }
            }
            // Wait for answers, or until the next request is due.
            var wait: UInt64 = 5_000_000
            if next < total {
                let nextDue = start + UInt64(Double(next) * interval)
                wait = nextDue > now ? min(wait, nextDue - now) : 0
            }
            for (slot, connection) in pool.enumerated() {
                descriptors[slot] = pollfd(fd: connection.busy == nil ? -1 : connection.fd, events: Int16(POLLIN), revents: 0)
            }
            // ppoll: a wait shorter than a millisecond is a wait, not a spin.
            let ready = armada_bench_ppoll(&descriptors, UInt(connections), Int64(wait))
            guard ready > 0 else { continue }
            for (slot, connection) in pool.enumerated() where descriptors[slot].revents != 0 {
                guard let index = connection.busy else { continue }
                let count = readBuffer.withUnsafeMutableBytes { read(connection.fd, $0.baseAddress, $0.count) }
                if count <= 0 {
                    errors += 1
                    connection.busy = nil
                    reconnect(connection)
                    continue
                }
                connection.buffer.append(contentsOf: readBuffer[0..<count])
                guard let (status, length) = Self.response(in: connection.buffer) else { continue }
                connection.buffer.removeFirst(length)
                let answered = Self.now()
                lastAnswer = answered
                latencies.append(Double(answered - due[index]) / 1e6)
                statuses[status, default: 0] += 1
                completed += 1
                connection.busy = nil
            }
        }
        latencies.sort()
        let seconds = Double(lastAnswer - start) / 1e9
        return Result(
            offered: total, sent: sent, completed: completed, statuses: statuses, errors: total - completed,
            achieved: seconds > 0 ? Double(completed) / seconds : 0, latencies: latencies, sentAt: sentAt)
    }

    /// A complete response at the start of `buffer`: its status and length (Content-Length bodies).
    static func response(in buffer: [UInt8]) -> (Int, Int)? {
        guard buffer.count >= 16 else { return nil }
        var headerEnd: Int? = nil
        var index = 3
        while index < buffer.count {
            if buffer[index] == 10, buffer[index - 1] == 13, buffer[index - 2] == 10, buffer[index - 3] == 13 {
                headerEnd = index + 1
                break
            }
            index += 1
        }
        guard let headerEnd else { return nil }
        let head = String(decoding: buffer[0..<headerEnd], as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        guard let statusLine = lines.first, statusLine.count >= 12, let status = Int(statusLine.dropFirst(9).prefix(3)) else { return nil }
        var length = 0
        for line in lines.dropFirst() where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        guard buffer.count >= headerEnd + length else { return nil }
        return (status, headerEnd + length)
    }

    private func connect() throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LoadError("socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw LoadError("connect to \(host):\(port): errno \(errno)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    private func reconnect(_ connection: Connection) {
        close(connection.fd)
        connection.buffer = []
        connection.fd = (try? connect()) ?? -1
    }

    private func write(all bytes: [UInt8], to fd: Int32) -> Bool {
        guard fd >= 0 else { return false }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}

struct LoadError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The requests of a run, built (and signed) before it starts so the generator only sends.
enum LoadRequests {
    /// Signed Tripay PAID callbacks for references `prefix`1…`prefix`count.
    static func callbacks(count: Int, prefix: String, privateKey: String) -> [[UInt8]] {
        let paidAt = Int(Date().timeIntervalSince1970)
        return (1...count).map { index in
            let body = Array(
                #"{"reference":"\#(prefix)\#(index)","merchant_ref":"DEP-X","payment_method":"BRI Virtual Account","payment_method_code":"BRIVA","total_amount":154250,"fee_merchant":0,"fee_customer":4250,"total_fee":4250,"amount_received":150000,"is_closed_payment":1,"status":"PAID","paid_at":\#(paidAt),"note":null}"#
                    .utf8)
            let signature = TripaySignature.callback(body: body, privateKey: privateKey)
            return request(
                "POST", "/api/v1/webhooks/tripay",
                headers: ["X-Callback-Event: payment_status", "X-Callback-Signature: \(signature)", "Content-Type: application/json"],
                body: body)
        }
    }

    /// Authenticated commands: `PUT /api/v1/me/contact` by customers `prefix`1…`prefix`count,
    /// each with its own HS256 token.
    static func contacts(count: Int, prefix: String, jwtSecret: String) -> [[UInt8]] {
        (1...count).map { index in
            let customer = "\(prefix)\(index)"
            let body = Array(#"{"email":"\#(customer.lowercased())@example.com","name":"Bench \#(index)","locale":"id"}"#.utf8)
            return request(
                "PUT", "/api/v1/me/contact",
                headers: [
                    "Authorization: Bearer \(token(customer, jwtSecret: jwtSecret))", "Idempotency-Key: \(UUID().uuidString.lowercased())",
                    "Content-Type: application/json",
                ], body: body)
        }
    }

    /// Monthly orders of `plan` (`POST /api/v1/orders`) by customers `prefix`1…`prefix`count.
    static func orders(count: Int, prefix: String, plan: String, jwtSecret: String) -> [[UInt8]] {
        (1...count).map { index in
            let customer = "\(prefix)\(index)"
            let body = Array(
                #"{"planId":"\#(plan)","image":"ubuntu-24-04-x64","billingPeriod":"MONTHLY","hostname":"bench-\#(index)"}"#.utf8)
            return request(
                "POST", "/api/v1/orders",
                headers: [
                    "Authorization: Bearer \(token(customer, jwtSecret: jwtSecret))", "Idempotency-Key: \(UUID().uuidString.lowercased())",
                    "Content-Type: application/json",
                ], body: body)
        }
    }

    /// An HS256 customer token, as a frontend's auth service would issue it.
    static func token(_ customer: String, jwtSecret: String) -> String {
        let header = base64URL(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let expires = Int(Date().timeIntervalSince1970) + 3600
        let payload = base64URL(Array(#"{"sub":"\#(customer)","role":"customer","exp":\#(expires)}"#.utf8))
        let key = SymmetricKey(data: Array(jwtSecret.utf8))
        let signature = base64URL(Array(HMAC<SHA256>.authenticationCode(for: Array("\(header).\(payload)".utf8), using: key)))
        return "\(header).\(payload).\(signature)"
    }

    static func request(_ method: String, _ path: String, headers: [String], body: [UInt8]) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for header in headers { head += header + "\r\n" }
        head += "Content-Length: \(body.count)\r\n\r\n"
        return Array(head.utf8) + body
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
