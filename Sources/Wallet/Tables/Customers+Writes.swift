import Foundation
import Postgres
import WalletContracts

/// The payments worker's writes to `customers`.
extension Customers {
    static func saveContact(_ contact: UpdateContact, on connection: PGConnection) throws {
        try connection.execute(
            """
            INSERT INTO customers (customer_id, email, display_name, telegram_chat_id, locale, time_zone, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, now())
            ON CONFLICT (customer_id) DO UPDATE SET email = EXCLUDED.email, display_name = EXCLUDED.display_name,
                telegram_chat_id = EXCLUDED.telegram_chat_id, locale = EXCLUDED.locale, time_zone = EXCLUDED.time_zone, updated_at = now()
            """, contact.customerId, contact.email, contact.displayName, contact.telegramChatId, contact.locale, contact.timeZone)
    }
}
