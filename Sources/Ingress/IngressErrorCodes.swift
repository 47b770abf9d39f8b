import Messaging

/// The ingress's own error codes (authentication, request shape, routing); the business codes
/// come from the areas' contracts, the generic ones from `Messaging`.
extension ErrorCode {
    public static let callbackSourceNotAllowed = ErrorCode("CALLBACK_SOURCE_NOT_ALLOWED")
    public static let commandNotFound = ErrorCode("COMMAND_NOT_FOUND")
    public static let forbidden = ErrorCode("FORBIDDEN")
    public static let idempotencyKeyInvalid = ErrorCode("IDEMPOTENCY_KEY_INVALID")
    public static let idempotencyKeyRequired = ErrorCode("IDEMPOTENCY_KEY_REQUIRED")
    public static let idempotencyKeyReused = ErrorCode("IDEMPOTENCY_KEY_REUSED")
    public static let internalError = ErrorCode("INTERNAL_ERROR")
    public static let invalidCallbackEvent = ErrorCode("INVALID_CALLBACK_EVENT")
    public static let invalidJson = ErrorCode("INVALID_JSON")
    public static let invalidSignature = ErrorCode("INVALID_SIGNATURE")
    public static let invalidToken = ErrorCode("INVALID_TOKEN")
    public static let malformedCallback = ErrorCode("MALFORMED_CALLBACK")
    public static let methodNotAllowed = ErrorCode("METHOD_NOT_ALLOWED")
    public static let missingSignature = ErrorCode("MISSING_SIGNATURE")
    public static let missingToken = ErrorCode("MISSING_TOKEN")
    public static let notFound = ErrorCode("NOT_FOUND")
    public static let payloadTooLarge = ErrorCode("PAYLOAD_TOO_LARGE")
    public static let rateLimited = ErrorCode("RATE_LIMITED")
    public static let serviceUnavailable = ErrorCode("SERVICE_UNAVAILABLE")
    public static let tokenExpired = ErrorCode("TOKEN_EXPIRED")
    public static let unknownField = ErrorCode("UNKNOWN_FIELD")
    public static let unsupportedMediaType = ErrorCode("UNSUPPORTED_MEDIA_TYPE")
}
