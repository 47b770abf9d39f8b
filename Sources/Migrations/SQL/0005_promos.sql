-- Promos and their redemptions (DOMAIN.md: Promos).

CREATE TABLE promos (
    id                    uuid        PRIMARY KEY,
    code                  text        NOT NULL UNIQUE CHECK (code = upper(code) AND code <> ''),
    name                  text        NOT NULL,
    promo_type            text        NOT NULL CHECK (promo_type IN ('DEPOSIT_BONUS', 'WELCOME_BONUS', 'SPECIAL_EVENT')),
    bonus_type            text        NOT NULL CHECK (bonus_type IN ('PERCENTAGE', 'FIXED_AMOUNT')),
    bonus_value           bigint      NOT NULL CHECK (bonus_value > 0),
    min_deposit           bigint      NOT NULL DEFAULT 0 CHECK (min_deposit >= 0),
    max_bonus             bigint      CHECK (max_bonus IS NULL OR max_bonus > 0),
    starts_at             timestamptz,
    ends_at               timestamptz,
    max_total_uses        integer     CHECK (max_total_uses IS NULL OR max_total_uses > 0),
    max_uses_per_customer integer     NOT NULL DEFAULT 1 CHECK (max_uses_per_customer > 0),
    uses                  integer     NOT NULL DEFAULT 0,
    active                boolean     NOT NULL DEFAULT true,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT promo_percentage_at_most_100 CHECK (bonus_type <> 'PERCENTAGE' OR bonus_value <= 100),
    -- The database, not only the code, refuses over-redemption.
    CONSTRAINT promo_uses_within_limit CHECK (max_total_uses IS NULL OR uses <= max_total_uses),
    CONSTRAINT promo_window CHECK (starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at)
);
-- At most one active welcome bonus.
CREATE UNIQUE INDEX promos_one_active_welcome ON promos (promo_type) WHERE promo_type = 'WELCOME_BONUS' AND active;

CREATE TABLE promo_redemptions (
    id          bigserial   PRIMARY KEY,
    promo_id    uuid        NOT NULL REFERENCES promos (id),
    customer_id text        NOT NULL,
    -- The deposit the bonus came with; NULL for a welcome bonus.
    deposit_id  uuid        UNIQUE REFERENCES deposits (id),
    bonus       bigint      NOT NULL CHECK (bonus >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX promo_redemptions_by_customer ON promo_redemptions (promo_id, customer_id);
