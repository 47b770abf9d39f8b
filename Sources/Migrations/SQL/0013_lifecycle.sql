-- Lifecycle: each reminder accounted for once per (order, period end, threshold) — sent, or
-- skipped when a more urgent one was due at the same time; a renewal that failed for lack of
-- money told once per period; the indexes a tick's set-based queries use.
CREATE TABLE lifecycle_reminders (
    order_id        uuid        NOT NULL REFERENCES orders (id),
    period_end      timestamptz NOT NULL,
    threshold_hours integer     NOT NULL CHECK (threshold_hours IN (168, 72, 24, 8)),
    outcome         text        NOT NULL CHECK (outcome IN ('sent', 'skipped')),
    at              timestamptz NOT NULL,
    PRIMARY KEY (order_id, period_end, threshold_hours)
);

CREATE TABLE renewal_failures (
    order_id   uuid        NOT NULL REFERENCES orders (id),
    period_end timestamptz NOT NULL,
    required   bigint      NOT NULL,
    balance    bigint      NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (order_id, period_end)
);

CREATE INDEX orders_running_by_expiry ON orders (expires_at) WHERE status IN ('ACTIVE', 'EXPIRING_SOON');
CREATE INDEX orders_suspended_by_time ON orders (suspended_at) WHERE status = 'SUSPENDED';
CREATE INDEX orders_renewable_by_expiry ON orders (expires_at) WHERE auto_renew AND status IN ('ACTIVE', 'EXPIRING_SOON', 'SUSPENDED');
