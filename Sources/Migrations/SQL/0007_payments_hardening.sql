-- Payments hardened (issue 7): every flag kept, one Tripay transaction per deposit,
-- reconciliation with per-deposit backoff, one welcome bonus per customer.

-- Every flag a deposit got, with when and why; deposits.flag keeps the first (a flagged
-- deposit is an operator's, and is no longer reconciled).
CREATE TABLE deposit_flags (
    id         bigserial   PRIMARY KEY,
    deposit_id uuid        NOT NULL REFERENCES deposits (id),
    flag       text        NOT NULL,
    detail     text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deposit_flags_by_deposit ON deposit_flags (deposit_id, id);
INSERT INTO deposit_flags (deposit_id, flag, created_at) SELECT id, flag, updated_at FROM deposits WHERE flag IS NOT NULL;

-- A create at Tripay: recorded before Tripay is called, leased to one delivery at a time, so
-- two deliveries of a command never call Tripay at once and a later one looks the merchant_ref
-- up before creating again.
CREATE TABLE tripay_creates (
    deposit_id   uuid        PRIMARY KEY,
    merchant_ref text        NOT NULL,
    attempts     integer     NOT NULL DEFAULT 0,
    leased_until timestamptz,
    lease_holder uuid,
    created_at   timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE deposits
    ADD COLUMN reconcile_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN next_reconcile_at  timestamptz;
CREATE INDEX deposits_to_reconcile ON deposits (next_reconcile_at NULLS FIRST, created_at)
    WHERE status = 'PENDING' AND flag IS NULL AND reference IS NOT NULL;

-- A welcome bonus (a redemption without a deposit) once per customer, whatever
-- max_uses_per_customer says.
CREATE UNIQUE INDEX promo_redemptions_one_welcome ON promo_redemptions (promo_id, customer_id) WHERE deposit_id IS NULL;

-- A welcome bonus is a fixed amount (existing rows are left to an operator: NOT VALID).
ALTER TABLE promos ADD CONSTRAINT promo_welcome_fixed CHECK (promo_type <> 'WELCOME_BONUS' OR bonus_type = 'FIXED_AMOUNT') NOT VALID;
