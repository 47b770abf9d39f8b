-- The messaging runtime's tables: the inbox makes every handler run take effect once, the
-- outbox makes follow-up messages leave only for committed transactions.

CREATE TABLE inbox (
    consumer      text        NOT NULL,
    message_id    uuid        NOT NULL,
    message_type  text        NOT NULL,
    outcome       text        NOT NULL DEFAULT 'succeeded' CHECK (outcome IN ('succeeded', 'failed')),
    error_code    text,
    error_message text,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
CREATE INDEX inbox_processed_at ON inbox (processed_at);

CREATE TABLE outbox (
    id            bigserial   PRIMARY KEY,
    message_id    uuid        NOT NULL UNIQUE,
    exchange      text        NOT NULL,
    routing_key   text        NOT NULL,
    message_type  text        NOT NULL,
    body          text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- A relay claims rows for a while; rows whose claim ran out (a crashed relay) are taken again.
    claimed_until timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text,
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
