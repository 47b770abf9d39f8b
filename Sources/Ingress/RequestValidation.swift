import Foundation
import HTTPTypes
import Hummingbird

/// A parsed JSON value that keeps booleans, whole numbers and fractions apart.
public enum JSONValue: Decodable, Sendable, CustomStringConvertible {
    case bool(Bool), integer(Int64), number(Double), string(String), null, array([JSONValue]), object([String: JSONValue])

    public var description: String {
        switch self {
        case .bool(let b): return "\(b)"
        case .integer(let i): return "\(i)"
        case .number(let d): return "\(d)"
        case .string(let s): return "\"\(s)\""
        case .null: return "null"
        case .array(let a): return "[\(a.count) items]"
        case .object(let o): return "{\(o.keys.sorted().joined(separator: ","))}"
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .integer(i)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }
}

/// A JSON object body, checked field by field: unknown fields and bad values are rejected with
/// the field named (422), so frontend developers see exactly what to fix.
struct JSONBody {
    let raw: [UInt8]
    let object: [String: JSONValue]

    static let maximumSize = 16 * 1024

    /// - Parameter nullable: fields where an explicit `null` means something (clear the value);
    ///   anywhere else `null` is not a value the field takes, and is refused.
    static func read(_ request: Request, allowed: Set<String>, nullable: Set<String> = []) async throws -> JSONBody {
        guard let type = request.headers[.contentType], type.lowercased().hasPrefix("application/json") else {
            throw APIError(.unsupportedMediaType, .unsupportedMediaType, "send the body as application/json")
        }
        let buffer = try await request.body.collect(upTo: maximumSize)
        let raw = Array(buffer.readableBytesView)
        guard let parsed = try? JSONDecoder().decode(JSONValue.self, from: Data(raw)) else {
            throw APIError(.badRequest, .invalidJson, "the body is not valid JSON")
        }
        guard case .object(let object) = parsed else {
            throw APIError(.badRequest, .invalidJson, "the body must be a JSON object")
        }
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw APIError(.unprocessableContent, .unknownField, "unknown field '\(unknown)'", field: unknown)
        }
        if let null = object.keys.sorted().first(where: { key in
            if case .null = object[key], !nullable.contains(key) { return true }
            return false
        }) {
            throw APIError(.unprocessableContent, .validationFailed, "'\(null)' cannot be null", field: null)
        }
        return JSONBody(raw: raw, object: object)
    }

    func int64(_ name: String, in range: ClosedRange<Int64>) throws -> Int64 {
        guard let value = object[name], value.isPresent else { throw missing(name) }
        // Booleans, fractions and strings are not amounts; a number too large for Int64 is out of range.
        let whole: Int64
        switch value {
        case .integer(let integer): whole = integer
        case .number(let number) where number.rounded() == number && abs(number) > Double(Int64.max) / 2: whole = number > 0 ? .max : .min
        default:
            throw APIError(.unprocessableContent, .validationFailed, "'\(name)' must be a whole number of rupiah", field: name)
        }
        guard range.contains(whole) else {
            throw APIError(
                .unprocessableContent, .valueOutOfRange, "'\(name)' must be between \(range.lowerBound) and \(range.upperBound)",
                field: name)
        }
        return whole
    }

    func string(_ name: String, required: Bool = true, maxLength: Int = 200, pattern: String? = nil) throws -> String? {
        guard let value = object[name], value.isPresent else {
            if required { throw missing(name) }
            return nil
        }
        guard case .string(let text) = value else {
            throw APIError(.unprocessableContent, .validationFailed, "'\(name)' must be a string", field: name)
        }
        // Lengths count code points, as JSON Schema does (Docs/openapi.yaml); the value is taken as
        // sent, never trimmed.
        guard (1...maxLength).contains(text.unicodeScalars.count) else {
            throw APIError(.unprocessableContent, .validationFailed, "'\(name)' must be 1 to \(maxLength) characters", field: name)
        }
        // PostgreSQL text cannot hold NUL: refused here, never a command that cannot be stored.
        guard !text.unicodeScalars.contains("\u{0}") else {
            throw APIError(.unprocessableContent, .validationFailed, "'\(name)' must not contain NUL (U+0000)", field: name)
        }
        // The whole value must match: `$` alone would also match before a final newline.
        if let pattern, text.range(of: pattern, options: .regularExpression) != text.startIndex..<text.endIndex {
            throw APIError(.unprocessableContent, .validationFailed, "'\(name)' has an invalid format", field: name)
        }
        return text
    }

    /// An array of strings, each checked like `string`; nil when absent.
    func strings(_ name: String, maxCount: Int, maxLength: Int, pattern: String) throws -> [String]? {
        guard let value = object[name], value.isPresent else { return nil }
        guard case .array(let items) = value, items.count <= maxCount else {
            throw APIError(
                .unprocessableContent, .validationFailed, "'\(name)' must be an array of at most \(maxCount) strings", field: name)
        }
        return try items.map { item in
            guard case .string(let text) = item, (1...maxLength).contains(text.unicodeScalars.count),
                !text.unicodeScalars.contains("\u{0}"),
                text.range(of: pattern, options: .regularExpression) == text.startIndex..<text.endIndex
            else {
                throw APIError(.unprocessableContent, .validationFailed, "'\(name)' has an invalid entry", field: name)
            }
            return text
        }
    }

    func optionalInt64(_ name: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let value = object[name], value.isPresent else { return nil }
        return try int64(name, in: range)
    }

    func bool(_ name: String) throws -> Bool? {
        guard let value = object[name], value.isPresent else { return nil }
        guard case .bool(let flag) = value else {
            throw APIError(.unprocessableContent, .validationFailed, "'\(name)' must be true or false", field: name)
        }
        return flag
    }

    /// An RFC 3339 / ISO 8601 timestamp.
    func date(_ name: String) throws -> Date? {
        guard let text = try string(name, required: false, maxLength: 40) else { return nil }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let date = formatter.date(from: text) else {
            throw APIError(.unprocessableContent, .validationFailed, "'\(name)' must be an ISO 8601 timestamp", field: name)
        }
        return date
    }

    func choice<T: RawRepresentable>(_ name: String, required: Bool = true) throws -> T? where T.RawValue == String {
        guard let text = try string(name, required: required, maxLength: 40) else { return nil }
        guard let value = T(rawValue: text) else {
            throw APIError(.unprocessableContent, .validationFailed, "'\(name)' has an unknown value '\(text)'", field: name)
        }
        return value
    }

    private func missing(_ name: String) -> APIError {
        APIError(.unprocessableContent, .validationFailed, "'\(name)' is required", field: name)
    }
}

extension JSONValue {
    var isPresent: Bool {
        if case .null = self { return false }
        return true
    }
}

extension Request {
    static let idempotencyKeyHeader = HTTPField.Name("Idempotency-Key")!

    /// The `Idempotency-Key` every state-changing request must carry.
    func idempotencyKey() throws -> String {
        guard let key = headers[Self.idempotencyKeyHeader]?.trimmingCharacters(in: .whitespaces), !key.isEmpty else {
            throw APIError(.badRequest, .idempotencyKeyRequired, "send an Idempotency-Key header (a UUID is a good choice)")
        }
        guard key.count <= 200 else {
            throw APIError(.badRequest, .idempotencyKeyInvalid, "the Idempotency-Key is longer than 200 characters")
        }
        // HTTP allows a tab inside a field value; no other control character belongs in a key, and
        // bytes that are not UTF-8 (read as U+FFFD) would make two different keys one.
        guard !key.unicodeScalars.contains(where: { ($0 != "\t" && $0.properties.generalCategory == .control) || $0 == "\u{FFFD}" }) else {
            throw APIError(
                .badRequest, .idempotencyKeyInvalid, "the Idempotency-Key must be UTF-8 text without control characters other than tab")
        }
        return key
    }

    /// `?limit=` within 1...100, default 20.
    func pageLimit() throws -> Int {
        guard let text = uri.queryParameters.get("limit") else { return 20 }
        guard let limit = Int(text), (1...100).contains(limit) else {
            throw APIError(.unprocessableContent, .valueOutOfRange, "'limit' must be between 1 and 100", field: "limit")
        }
        return limit
    }
}

let apiEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.dateEncodingStrategy = .iso8601
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return encoder
}()

func encodedResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    Response(
        status: status, headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(bytes: try apiEncoder.encode(value))))
}
