/// A machine-readable error code, shared by API errors and handler rejections.
///
/// Codes are static members, declared once per area (`extension ErrorCode { static let ... }`),
/// so a code is never spelled twice and adding one never breaks a caller (swift-jobs' style).
public struct ErrorCode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public init(_ rawValue: String) {
        self.rawValue = rawValue
    }

    public var description: String { rawValue }
}

extension ErrorCode {
    /// A request or message field is missing or malformed.
    public static let validationFailed = ErrorCode("VALIDATION_FAILED")
    /// A number is outside the range the field allows.
    public static let valueOutOfRange = ErrorCode("VALUE_OUT_OF_RANGE")
    /// A command went to the dead-letter queue; operators were alerted.
    public static let processingFailed = ErrorCode("PROCESSING_FAILED")
}
