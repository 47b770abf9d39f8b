-- Wallets, the append-only ledger, Tripay deposits and the callback log (DOMAIN.md: Wallet, Deposits).

CREATE TABLE wallets (
    customer_id text        PRIMARY KEY,
    balance     bigint      NOT NULL DEFAULT 0 CONSTRAINT wallet_balance_not_negative CHECK (balance >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_entries (
    id             bigserial   PRIMARY KEY,
    customer_id    text        NOT NULL REFERENCES wallets (customer_id),
    entry_type     text        NOT NULL CHECK (entry_type IN ('CREDIT', 'DEBIT')),
    amount         bigint      NOT NULL,
    balance_before bigint      NOT NULL,
    balance_after  bigint      NOT NULL CHECK (balance_after >= 0),
    reference_type text        NOT NULL CHECK (reference_type IN (
        'DEPOSIT', 'DEPOSIT_BONUS', 'WELCOME_BONUS', 'VPS_ORDER', 'VPS_RENEWAL', 'PROVISION_FAILED_REFUND', 'ADMIN_ADJUSTMENT')),
    reference_id   text        NOT NULL,
    description    text        NOT NULL DEFAULT '',
    metadata       jsonb       NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_amount_signed CHECK ((entry_type = 'CREDIT' AND amount > 0) OR (entry_type = 'DEBIT' AND amount < 0)),
    CONSTRAINT ledger_balance_arithmetic CHECK (balance_after = balance_before + amount),
    -- The same deposit is never credited twice, the same order never charged twice.
    CONSTRAINT ledger_reference_once UNIQUE (reference_type, reference_id)
);
CREATE INDEX ledger_entries_by_customer ON ledger_entries (customer_id, id DESC);

CREATE TABLE deposits (
    id             uuid        PRIMARY KEY,
    customer_id    text        NOT NULL,
    amount         bigint      NOT NULL CHECK (amount > 0),
    fee            bigint      NOT NULL DEFAULT 0 CHECK (fee >= 0),
    total_amount   bigint      NOT NULL CHECK (total_amount = amount + fee),
    method         text        NOT NULL,
    status         text        NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'PAID', 'EXPIRED', 'FAILED', 'CANCELED')),
    reference      text        UNIQUE,
    merchant_ref   text        NOT NULL UNIQUE,
    pay_code       text,
    checkout_url   text,
    promo_code     text,
    bonus          bigint      NOT NULL DEFAULT 0 CHECK (bonus >= 0),
    expires_at     timestamptz NOT NULL,
    paid_at        timestamptz,
    -- Set when something needs an operator: an amount mismatch, a refund after payment.
    flag           text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deposits_by_customer ON deposits (customer_id, created_at DESC);
CREATE INDEX deposits_pending ON deposits (created_at) WHERE status = 'PENDING';

-- Every callback the payments worker handled, with what it did: the audit trail for support.
CREATE TABLE tripay_callbacks (
    id              bigserial   PRIMARY KEY,
    message_id      uuid        NOT NULL UNIQUE,
    reference       text        NOT NULL,
    merchant_ref    text,
    status          text        NOT NULL,
    total_amount    bigint,
    amount_received bigint,
    deposit_id      uuid        REFERENCES deposits (id),
    outcome         text        NOT NULL,
    raw_body        text        NOT NULL,
    handled_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tripay_callbacks_by_reference ON tripay_callbacks (reference);
