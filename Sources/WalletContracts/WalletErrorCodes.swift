import Messaging

/// The payments area's error codes, shared by the API's answers and the handlers' rejections.
extension ErrorCode {
    public static let depositNotFound = ErrorCode("DEPOSIT_NOT_FOUND")
    public static let depositNotCancelable = ErrorCode("DEPOSIT_NOT_CANCELABLE")
    public static let depositAmountOutOfRange = ErrorCode("DEPOSIT_AMOUNT_OUT_OF_RANGE")
    public static let depositFeeMismatch = ErrorCode("DEPOSIT_FEE_MISMATCH")
    public static let tripayChannelNotFound = ErrorCode("TRIPAY_CHANNEL_NOT_FOUND")
    public static let tripayRejected = ErrorCode("TRIPAY_REJECTED")
    public static let invalidAmount = ErrorCode("INVALID_AMOUNT")
    public static let insufficientBalance = ErrorCode("INSUFFICIENT_BALANCE")
    public static let promoNotFound = ErrorCode("PROMO_NOT_FOUND")
    public static let promoInactive = ErrorCode("PROMO_INACTIVE")
    public static let promoExpired = ErrorCode("PROMO_EXPIRED")
    public static let promoExhausted = ErrorCode("PROMO_EXHAUSTED")
    public static let promoAlreadyUsed = ErrorCode("PROMO_ALREADY_USED")
    public static let promoMinDepositNotMet = ErrorCode("PROMO_MIN_DEPOSIT_NOT_MET")
    public static let promoFieldImmutable = ErrorCode("PROMO_FIELD_IMMUTABLE")
    public static let promoCodeTaken = ErrorCode("PROMO_CODE_TAKEN")
    public static let welcomeBonusAlreadyActive = ErrorCode("WELCOME_BONUS_ALREADY_ACTIVE")
}
