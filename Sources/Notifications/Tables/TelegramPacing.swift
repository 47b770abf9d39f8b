import Foundation
import Postgres

/// Telegram's limits (about one message a second per chat, about 30 a second overall), kept by
/// every notifier process together in Postgres.
///
/// Per chat, a send is leased (one at a time) and may start only a second after the previous
/// send's answer came back — after the moment Telegram received it — so two messages to a chat
/// arrive at least a second apart whatever the network does. Overall, each send takes a start
/// slot `1/perSecond` after the previous one.
struct TelegramPacing: Sendable {
    /// Seconds between two sends' starts, overall.
    var spacing: Double
    /// Seconds between a chat's previous answer and its next send.
    var perChat: Double = 1
    /// A run waits at most this long for its slot; a later slot is not taken, the message waits in
    /// a delay queue instead (`again`).
    var horizon: Double = 2
    /// A lease outlives a send (curl's timeout) and ends by itself when its holder crashed.
    var lease: Double = 60

    enum Reservation: Sendable, Equatable {
        /// The chat is leased to this run: start after `wait` seconds (then take a global slot).
        case slot(wait: Double)
        /// Not within the horizon: try again after `wait` seconds.
        case later(wait: Double)
    }

    /// The pacing key of a chat: numeric ids in one spelling (`0123` is `123`).
    static func key(_ chat: String) -> String {
        Int64(chat).map(String.init) ?? chat.lowercased()
    }

    /// A chat's backlog is spread by tickets: each delivery, the first time it asks, gets the
    /// chat's next ticket (`perChat` + a margin for the answer's latency apart) and waits for it
    /// in the delay queues rather than asking again every second.
    var ticketSpacing: Double { perChat + 0.1 }

    /// Leases the chat when it may send within the horizon: its ticket is due, a second has
    /// passed since its previous answer, no pause (429) holds it, no other send has it.
    func reserveChat(_ chat: String, delivery: UUID, on connection: PGConnection) throws -> Reservation {
        let chat = Self.key(chat)
        try connection.execute("INSERT INTO telegram_chats (chat_id) VALUES ($1) ON CONFLICT DO NOTHING", chat)
        guard
            let row = try connection.query(
                """
                SELECT coalesce(leased_until > clock_timestamp(), false) AS leased,
                       extract(epoch FROM greatest(clock_timestamp(), coalesce(last_sent_at + make_interval(secs => $2), '-infinity'),
                                                   coalesce(paused_until, '-infinity')) - clock_timestamp())::float8 AS ready_in,
                       extract(epoch FROM greatest(clock_timestamp(), coalesce(next_ticket, '-infinity')) - clock_timestamp())::float8
                           AS next_ticket_in
                FROM telegram_chats WHERE chat_id = $1 FOR UPDATE
                """, chat, perChat
            ).first
        else { return .later(wait: 1) }
        let readyIn = max(0, try row.decode("ready_in", as: Double.self))
        var ticketIn = try connection.query(
            "SELECT extract(epoch FROM not_before - clock_timestamp())::float8 AS ticket_in FROM notification_deliveries WHERE id = $1",
            delivery
        ).first?.decode("ticket_in", as: Double?.self)
        if ticketIn == nil {
            let ticket = max(try row.decode("next_ticket_in", as: Double.self), readyIn)
            try connection.execute(
                "UPDATE telegram_chats SET next_ticket = clock_timestamp() + make_interval(secs => $2) WHERE chat_id = $1", chat,
                ticket + ticketSpacing)
            try connection.execute(
                "UPDATE notification_deliveries SET not_before = clock_timestamp() + make_interval(secs => $2) WHERE id = $1", delivery,
                ticket)
            ticketIn = ticket
        }
        let wait = max(ticketIn ?? 0, readyIn)
        if try row.decode("leased", as: Bool.self) { return .later(wait: max(perChat, wait)) }
        if wait > horizon { return .later(wait: wait) }
        try connection.execute(
            """
            UPDATE telegram_chats SET leased_until = clock_timestamp() + make_interval(secs => $2), lease_holder = $3 WHERE chat_id = $1
            """, chat, wait + lease, delivery)
        return .slot(wait: wait)
    }

    /// The next overall start slot, in seconds from now. Taken once the chat is ready, so one
    /// chat's wait never pushes every other chat's sends back; the slots in use at once are
    /// bounded by the sends in flight (each holds a chat lease), so the wait is short.
    func reserveGlobal(on connection: PGConnection) throws -> Double {
        try connection.execute("INSERT INTO telegram_pacing (key, next_at) VALUES ('global', '-infinity') ON CONFLICT DO NOTHING")
        let slotIn =
            try connection.query(
                """
                UPDATE telegram_pacing SET next_at = greatest(next_at, clock_timestamp()) + make_interval(secs => $1) WHERE key = 'global'
                RETURNING extract(epoch FROM next_at - make_interval(secs => $1) - clock_timestamp())::float8 AS slot_in
                """, spacing
            ).first?.decode("slot_in", as: Double.self) ?? 0
        return max(0, slotIn)
    }

    /// After the answer (or its absence): the chat's next send counts from now; a 429 pauses the
    /// chat for `retryAfter` seconds.
    func finish(chat: String, delivery: UUID, retryAfter: Int?, on connection: PGConnection) throws {
        try connection.execute(
            """
            UPDATE telegram_chats SET last_sent_at = clock_timestamp(), leased_until = NULL, lease_holder = NULL,
                paused_until = CASE WHEN $3 > 0 THEN clock_timestamp() + make_interval(secs => $3) ELSE paused_until END
            WHERE chat_id = $1 AND lease_holder = $2
            """, Self.key(chat), delivery, retryAfter ?? 0)
    }
}
