-- Copies the runtime published of a delivery (a retry, an "again", a dead letter): when the
-- original's ack is lost and the broker delivers it again, the copy is not published twice.
CREATE TABLE delivery_copies (
    consumer   text        NOT NULL,
    message_id text        NOT NULL,
    copy       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id, copy)
);
CREATE INDEX delivery_copies_created_at ON delivery_copies (created_at);
