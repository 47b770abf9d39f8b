import Foundation
import Postgres

/// A customer's contact details, which notifications use.
public struct CustomerContact: Sendable, Equatable {
    public var customerId: String
    public var email: String?
    public var displayName: String?
    public var telegramChatId: String?
    public var locale: String
    /// An IANA time zone (Asia/Jakarta, Asia/Makassar, Asia/Jayapura); nil: Asia/Jakarta.
    public var timeZone: String?
}

/// The `customers` table: contact details per customer. Written by the payments worker
/// (`Wallet`, `Customers+Writes`).
public enum Customers {
    public static func contact(_ customerId: String, on connection: PGConnection) throws -> CustomerContact? {
        try connection.query(
            "SELECT customer_id, email, display_name, telegram_chat_id, locale, time_zone FROM customers WHERE customer_id = $1", customerId
        ).first.map {
            CustomerContact(
                customerId: try $0.decode("customer_id"), email: try $0.decode("email"), displayName: try $0.decode("display_name"),
                telegramChatId: try $0.decode("telegram_chat_id"), locale: try $0.decode("locale"), timeZone: try $0.decode("time_zone"))
        }
    }
}
