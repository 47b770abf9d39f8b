import Messaging

/// The catalog's and the orders' error codes, shared by the API's answers and the handlers'
/// rejections.
extension ErrorCode {
    public static let planNotFound = ErrorCode("PLAN_NOT_FOUND")
    public static let imageNotFound = ErrorCode("IMAGE_NOT_FOUND")
    public static let regionNotFound = ErrorCode("REGION_NOT_FOUND")
    public static let billingPeriodNotAllowed = ErrorCode("BILLING_PERIOD_NOT_ALLOWED")
    public static let priceNotSet = ErrorCode("PRICE_NOT_SET")
    public static let planNameTaken = ErrorCode("PLAN_NAME_TAKEN")
    public static let catalogItemInUse = ErrorCode("CATALOG_ITEM_IN_USE")
    public static let orderNotFound = ErrorCode("ORDER_NOT_FOUND")
    public static let invalidOrderState = ErrorCode("INVALID_ORDER_STATE")
    public static let consoleNotAvailable = ErrorCode("CONSOLE_NOT_AVAILABLE")
    public static let noAvailableAccount = ErrorCode("NO_AVAILABLE_ACCOUNT")
    public static let provisioningFailed = ErrorCode("PROVISIONING_FAILED")
    public static let dropletActionFailed = ErrorCode("DROPLET_ACTION_FAILED")
    public static let doAccountNotFound = ErrorCode("DO_ACCOUNT_NOT_FOUND")
    public static let doAccountTokenRejected = ErrorCode("DO_ACCOUNT_TOKEN_REJECTED")
    public static let doAccountDuplicate = ErrorCode("DO_ACCOUNT_DUPLICATE")
    /// The ingress has no ARMADA_ENCRYPTION_KEY: it cannot take a token.
    public static let encryptionNotConfigured = ErrorCode("ENCRYPTION_NOT_CONFIGURED")
}
