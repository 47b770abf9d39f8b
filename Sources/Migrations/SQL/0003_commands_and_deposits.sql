-- API commands and their outcome, the payment-channel cache, customer contacts, and what a
-- deposit keeps from Tripay.

-- The ingress records a command as pending when it accepts it (the id is derived from the
-- customer and the Idempotency-Key, the hash of the request detects a reused key); the consumer
-- that carries it out records how it ended, in its own transaction.
CREATE TABLE commands (
    id              uuid        PRIMARY KEY,
    customer_id     text        NOT NULL,
    idempotency_key text        NOT NULL,
    command_type    text        NOT NULL,
    request_hash    text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    result          jsonb,
    error_code      text,
    error_message   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    UNIQUE (customer_id, idempotency_key)
);

-- Tripay's channel list, refreshed periodically by the payments worker, read by the ingress.
CREATE TABLE payment_channels (
    code         text        PRIMARY KEY,
    active       boolean     NOT NULL,
    channel      jsonb       NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customers (
    customer_id      text        PRIMARY KEY,
    email            text,
    display_name     text,
    telegram_chat_id text,
    locale           text        NOT NULL DEFAULT 'id' CHECK (locale IN ('id', 'en')),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE deposits
    ADD COLUMN command_id   uuid,
    ADD COLUMN payment_name text,
    ADD COLUMN pay_url      text,
    ADD COLUMN qr_string    text;
