-- Notifications: one row per customer-facing event (its id is the event's message id, so an
-- event is recorded once), one delivery per channel the customer had when it was recorded, with
-- the rendered message, so a retry sends exactly what was first rendered.
ALTER TABLE customers ADD COLUMN time_zone text;

CREATE TABLE notifications (
    id          uuid        PRIMARY KEY,
    customer_id text        NOT NULL,
    kind        text        NOT NULL,
    event_type  text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    locale      text        NOT NULL CHECK (locale IN ('id', 'en')),
    subject     text        NOT NULL,
    data        jsonb       NOT NULL,
    skip_reason text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_by_customer ON notifications (customer_id, occurred_at DESC, id DESC);

CREATE TABLE notification_deliveries (
    id              uuid        PRIMARY KEY,
    notification_id uuid        NOT NULL REFERENCES notifications (id),
    channel         text        NOT NULL CHECK (channel IN ('email', 'telegram')),
    recipient       text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'skipped')),
    subject         text        NOT NULL,
    body_text       text        NOT NULL,
    body_html       text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      text,
    claimed_until   timestamptz,
    claim_holder    uuid,
    not_before      timestamptz,
    sent_at         timestamptz,
    provider_id     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (notification_id, channel)
);
CREATE INDEX notification_deliveries_open ON notification_deliveries (created_at) WHERE status = 'queued';

-- Telegram pacing shared by every notifier process: per chat, one message a second counted from
-- the previous answer (a lease keeps two sends to one chat apart) and a ticket per delivery that
-- spreads a chat's backlog over time; overall, one start slot per 1/N s.
CREATE TABLE telegram_chats (
    chat_id       text        PRIMARY KEY,
    next_ticket   timestamptz,
    last_sent_at  timestamptz,
    paused_until  timestamptz,
    leased_until  timestamptz,
    lease_holder  uuid
);

CREATE TABLE telegram_pacing (
    key     text        PRIMARY KEY,
    next_at timestamptz NOT NULL
);
INSERT INTO telegram_pacing (key, next_at) VALUES ('global', '-infinity');

-- When the notifier first recorded an event: events that occurred long before it are recorded
-- with their deliveries skipped (Docs/notifications.md).
CREATE TABLE notifier_first_run (
    id integer     PRIMARY KEY CHECK (id = 1),
    at timestamptz NOT NULL
);
