import CCurl
import Dispatch
import Foundation
import Retriability

/// An HTTP request for `CurlClient`.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// Seconds to establish the connection (TCP + TLS).
    public var connectTimeout: Double
    /// Seconds for the whole exchange.
    public var timeout: Double

    public init(
        method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
        connectTimeout: Double = 5, timeout: Double = 30
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.timeout = timeout
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header with this name, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// 5xx and 429 may succeed later; other statuses will not change on their own.
    public var isRetriableStatus: Bool { status >= 500 || status == 429 }
}

/// A failure below HTTP: no connection, timeout, TLS, protocol.
public struct CurlError: Error, Sendable, RetryClassifiable, CustomStringConvertible {
    public var code: Int32
    public var message: String

    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    /// Whether the same request may succeed later (connect, resolve, timeout, reset) —
    /// not for certificate, URL or protocol errors, which need a fix.
    public var isRetriable: Bool {
        switch code {
        case 5, 6, 7, 18, 28, 35, 52, 55, 56: return true
        default: return false
        }
    }

    public var description: String { "curl error \(code): \(message)" }
}

/// An SMTP send that failed: curl's error and the server's last reply code (0 when the server
/// never answered).
public struct SMTPError: Error, Sendable, RetryClassifiable, CustomStringConvertible {
    public var curl: CurlError
    public var replyCode: Int

    public init(curl: CurlError, replyCode: Int) {
        self.curl = curl
        self.replyCode = replyCode
    }

    /// The server refused the recipient for good (a 5xx to RCPT TO: no such mailbox): the
    /// same message to the same address will be refused again.
    public var recipientRefused: Bool {
        (500..<600).contains(replyCode) && curl.message.contains("RCPT")
    }

    /// Only a refused recipient is final. Everything else may succeed later or after an
    /// operator's fix (a refused login, a relay that wants AUTH, TLS or certificate trouble, a
    /// server busy with 4xx), so it is retried and, in the end, dead-lettered for a replay.
    public var isRetriable: Bool { !recipientRefused }

    public var description: String { "SMTP failed (reply \(replyCode)): \(curl)" }
}

/// HTTP and SMTP over libcurl for async code. Each call uses its own easy handle on a worker
/// thread, since `curl_easy_perform` blocks; TLS peer and host verification stay on.
public final class CurlClient: Sendable {
    private let queue = DispatchQueue(label: "curl", attributes: .concurrent)

    public init() {
        _ = curlGlobalInit
    }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try Self.perform(request) })
            }
        }
    }

    /// Sends a message over SMTP: `smtp://host:port` (STARTTLS when offered, or required with
    /// `requireTLS`) or `smtps://host:port` (implicit TLS).
    public func sendMail(_ message: MailMessage, via server: SMTPConfiguration) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            queue.async {
                continuation.resume(with: Result { try Self.performSMTP(message, server) })
            }
        }
    }

    private static func perform(_ request: HTTPRequest) throws -> HTTPResponse {
        guard let handle = curl_easy_init() else { throw CurlError(code: -1, message: "curl_easy_init failed") }
        defer { curl_easy_cleanup(handle) }
        let sink = ResponseSink()
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }

        try set(handle, CURLOPT_URL, request.url)
        try set(handle, CURLOPT_NOSIGNAL, 1)
        try set(handle, CURLOPT_CUSTOMREQUEST, request.method)
        try set(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout * 1000))
        try set(handle, CURLOPT_TIMEOUT_MS, Int(request.timeout * 1000))
        try set(handle, CURLOPT_SSL_VERIFYPEER, 1)
        try set(handle, CURLOPT_SSL_VERIFYHOST, 2)
        if request.method == "HEAD" { try set(handle, CURLOPT_NOBODY, 1) }
        // No "Expect: 100-continue" round trip before bodies.
        for header in request.headers + [(name: "Expect", value: "")] {
            headerList = curl_slist_append(headerList, "\(header.name): \(header.value)")
        }
        try check(armada_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
        if let body = request.body {
            try check(armada_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
            // COPYPOSTFIELDS copies (POSTFIELDSIZE bytes), so the body need not outlive this call;
            // an empty body still needs a valid pointer.
            var bytes = body.isEmpty ? [0] : body
            try bytes.withUnsafeMutableBytes { buffer in
                try check(armada_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, buffer.baseAddress!))
            }
        }
        let context = Unmanaged.passRetained(sink)
        defer { context.release() }
        try check(
            armada_curl_setopt_callback(
                handle, CURLOPT_WRITEFUNCTION,
                { data, size, count, context in
                    let sink = Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue()
                    sink.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: size * count))
                    return size * count
                }))
        try check(armada_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context.toOpaque()))
        try check(
            armada_curl_setopt_callback(
                handle, CURLOPT_HEADERFUNCTION,
                { data, size, count, context in
                    let sink = Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue()
                    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self)
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                    if line.hasPrefix("HTTP/") {
                        sink.headers.removeAll()  // a new response (after 100 Continue) starts over
                    } else if let colon = line.firstIndex(of: ":") {
                        let name = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
                        let value = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
                        sink.headers.append((name, value))
                    }
                    return size * count
                }))
        try check(armada_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context.toOpaque()))

        try check(curl_easy_perform(handle))
        var status = 0
        try check(armada_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status))
        return HTTPResponse(status: status, headers: sink.headers, body: sink.body)
    }

    private static func performSMTP(_ message: MailMessage, _ server: SMTPConfiguration) throws {
        guard let handle = curl_easy_init() else { throw CurlError(code: -1, message: "curl_easy_init failed") }
        defer { curl_easy_cleanup(handle) }
        var recipients: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(recipients) }
        for recipient in message.to { recipients = curl_slist_append(recipients, "<\(recipient)>") }

        try set(handle, CURLOPT_URL, server.url)
        try set(handle, CURLOPT_NOSIGNAL, 1)
        try set(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(server.connectTimeout * 1000))
        try set(handle, CURLOPT_TIMEOUT_MS, Int(server.timeout * 1000))
        try set(handle, CURLOPT_SSL_VERIFYPEER, 1)
        try set(handle, CURLOPT_SSL_VERIFYHOST, 2)
        if !server.url.lowercased().hasPrefix("smtps://") {
            try set(handle, CURLOPT_USE_SSL, Int(server.requireTLS ? CURLUSESSL_ALL.rawValue : CURLUSESSL_TRY.rawValue))
        }
        if let username = server.username {
            try set(handle, CURLOPT_USERNAME, username)
            try set(handle, CURLOPT_PASSWORD, server.password ?? "")
        }
        try set(handle, CURLOPT_MAIL_FROM, "<\(message.from)>")
        try check(armada_curl_setopt_slist(handle, CURLOPT_MAIL_RCPT, recipients))
        try set(handle, CURLOPT_UPLOAD, 1)
        let source = UploadSource(Array(message.rendered().utf8))
        let context = Unmanaged.passRetained(source)
        defer { context.release() }
        try check(
            armada_curl_setopt_callback(
                handle, CURLOPT_READFUNCTION,
                { buffer, size, count, context in
                    let source = Unmanaged<UploadSource>.fromOpaque(context!).takeUnretainedValue()
                    let chunk = min(size * count, source.bytes.count - source.offset)
                    guard chunk > 0, let buffer else { return 0 }
                    source.bytes.withUnsafeBytes { raw in
                        UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress! + source.offset, byteCount: chunk)
                    }
                    source.offset += chunk
                    return chunk
                }))
        try check(armada_curl_setopt_pointer(handle, CURLOPT_READDATA, context.toOpaque()))
        // curl's detail ("RCPT failed: 550") says which command the server refused.
        var detail = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code = detail.withUnsafeMutableBufferPointer { buffer -> CURLcode in
            guard armada_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, buffer.baseAddress) == CURLE_OK else {
                return CURLE_FAILED_INIT
            }
            let code = curl_easy_perform(handle)
            _ = armada_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, nil)
            return code
        }
        guard code == CURLE_OK else {
            // The server's last reply code tells a refused recipient (5xx) from a busy server (4xx).
            var reply = 0
            _ = armada_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &reply)
            let text = String(decoding: detail.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw SMTPError(
                curl: CurlError(code: Int32(code.rawValue), message: text.isEmpty ? String(cString: curl_easy_strerror(code)) : text),
                replyCode: reply)
        }
    }

    private static func set(_ handle: UnsafeMutableRawPointer, _ option: CURLoption, _ value: Int) throws {
        try check(armada_curl_setopt_long(handle, option, value))
    }

    private static func set(_ handle: UnsafeMutableRawPointer, _ option: CURLoption, _ value: String) throws {
        // libcurl copies string options (since 7.17), so the temporary C string may go after the call.
        try check(armada_curl_setopt_string(handle, option, value))
    }

    private static func check(_ code: CURLcode) throws {
        guard code == CURLE_OK else {
            throw CurlError(code: Int32(code.rawValue), message: String(cString: curl_easy_strerror(code)))
        }
    }
}

/// Collects a response on the curl worker thread; handed to callbacks through `Unmanaged`.
private final class ResponseSink {
    var body: [UInt8] = []
    var headers: [(name: String, value: String)] = []
}

private final class UploadSource {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}

/// `curl_global_init` once per process, before any handle (Swift runs global initializers once).
private let curlGlobalInit: Bool = curl_global_init(Int(CURL_GLOBAL_SSL)) == CURLE_OK
