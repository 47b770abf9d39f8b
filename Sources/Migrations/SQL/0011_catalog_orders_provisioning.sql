-- The catalog (plans, images, regions), DigitalOcean accounts, orders with their status history
-- and droplet actions (DOMAIN.md: Catalog; Orders and VPS).

CREATE TABLE plans (
    id            uuid        PRIMARY KEY,
    name          text        NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    display_name  text        NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    vcpu          integer     NOT NULL CHECK (vcpu > 0),
    memory_mb     integer     NOT NULL CHECK (memory_mb > 0),
    disk_gb       integer     NOT NULL CHECK (disk_gb > 0),
    bandwidth_tb  double precision NOT NULL CHECK (bandwidth_tb >= 0),
    size_slug     text        NOT NULL CHECK (length(size_slug) BETWEEN 1 AND 64),
    active        boolean     NOT NULL DEFAULT true,
    sort_order    integer     NOT NULL DEFAULT 0,
    price_daily   bigint      CHECK (price_daily > 0),
    price_monthly bigint      CHECK (price_monthly > 0),
    price_yearly  bigint      CHECK (price_yearly > 0),
    allow_daily   boolean     NOT NULL DEFAULT false,
    allow_monthly boolean     NOT NULL DEFAULT true,
    allow_yearly  boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE images (
    slug         text        PRIMARY KEY CHECK (slug ~ '^[a-z0-9][a-z0-9.-]{0,63}$'),
    display_name text        NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    active       boolean     NOT NULL DEFAULT true,
    sort_order   integer     NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE regions (
    slug         text        PRIMARY KEY CHECK (slug ~ '^[a-z0-9]{2,16}$'),
    display_name text        NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    active       boolean     NOT NULL DEFAULT true,
    sort_order   integer     NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Seed data (DOMAIN.md). Fixed ids, so every installation names the seed plans alike.
INSERT INTO plans (id, name, display_name, vcpu, memory_mb, disk_gb, bandwidth_tb, size_slug, sort_order, price_monthly, price_yearly)
VALUES
    ('6a1f0c3e-0b7d-5b0e-9a51-000000000001', 'basic', 'Basic', 1, 1024, 25, 1, 's-1vcpu-1gb', 10, 50000, 500000),
    ('6a1f0c3e-0b7d-5b0e-9a51-000000000002', 'standard', 'Standard', 2, 2048, 60, 3, 's-2vcpu-2gb', 20, 100000, 1000000),
    ('6a1f0c3e-0b7d-5b0e-9a51-000000000003', 'pro', 'Pro', 4, 8192, 160, 5, 's-4vcpu-8gb', 30, 400000, 4000000);
INSERT INTO images (slug, display_name, sort_order) VALUES
    ('ubuntu-22-04-x64', 'Ubuntu 22.04 LTS', 10),
    ('ubuntu-24-04-x64', 'Ubuntu 24.04 LTS', 20),
    ('debian-12-x64', 'Debian 12', 30),
    ('centos-stream-9-x64', 'CentOS Stream 9', 40);
INSERT INTO regions (slug, display_name, sort_order) VALUES ('sgp1', 'Singapore 1', 10);

CREATE TABLE do_accounts (
    id                   uuid        PRIMARY KEY,
    name                 text        NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    -- AES-256-GCM: 12-byte nonce, ciphertext, 16-byte tag (ARMADA_ENCRYPTION_KEY).
    token_sealed         bytea       NOT NULL,
    -- SHA-256 of the token: the same token is not added twice (never shown).
    token_fingerprint    text        NOT NULL UNIQUE,
    droplet_limit        integer     NOT NULL DEFAULT 25 CHECK (droplet_limit >= 0),
    active_droplets      integer     NOT NULL DEFAULT 0 CONSTRAINT do_account_count_not_negative CHECK (active_droplets >= 0),
    health               text        NOT NULL DEFAULT 'UNKNOWN' CHECK (health IN ('HEALTHY', 'DEGRADED', 'UNHEALTHY', 'UNKNOWN')),
    consecutive_failures integer     NOT NULL DEFAULT 0,
    is_primary           boolean     NOT NULL DEFAULT false,
    active               boolean     NOT NULL DEFAULT true,
    -- What DigitalOcean last said about the hourly window, and a pause after a 429.
    rate_remaining       integer,
    rate_reset_at        timestamptz,
    paused_until         timestamptz,
    last_error           text,
    last_checked_at      timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX do_accounts_one_primary ON do_accounts ((true)) WHERE is_primary;

-- Calls per account per second, shared by every provisioner process: the 250-a-minute pacing.
CREATE TABLE do_account_calls (
    account_id uuid        NOT NULL REFERENCES do_accounts (id),
    second     timestamptz NOT NULL,
    calls      integer     NOT NULL,
    PRIMARY KEY (account_id, second)
);

CREATE TABLE orders (
    id                    uuid        PRIMARY KEY,
    customer_id           text        NOT NULL,
    plan_id               uuid        NOT NULL REFERENCES plans (id),
    -- What was bought, as the catalog said at order time.
    plan_name             text        NOT NULL,
    size_slug             text        NOT NULL,
    image                 text        NOT NULL,
    region                text        NOT NULL,
    billing_period        text        NOT NULL CHECK (billing_period IN ('DAILY', 'MONTHLY', 'YEARLY')),
    price                 bigint      NOT NULL CHECK (price > 0),
    hostname              text        NOT NULL,
    ssh_keys              jsonb       NOT NULL DEFAULT '[]',
    auto_renew            boolean     NOT NULL DEFAULT true,
    status                text        NOT NULL CHECK (status IN (
        'PENDING', 'PROCESSING', 'PROVISIONING', 'ACTIVE', 'EXPIRING_SOON', 'SUSPENDED', 'TERMINATED', 'FAILED')),
    failure_code          text,
    failure_reason        text,
    failure_detail        jsonb,
    do_account_id         uuid        REFERENCES do_accounts (id),
    droplet_id            bigint,
    create_action_id      bigint,
    -- The droplet's status as DigitalOcean last confirmed it (never set optimistically).
    droplet_status        text,
    public_ipv4           text,
    paid_at               timestamptz,
    provisioning_deadline timestamptz,
    activated_at          timestamptz,
    expires_at            timestamptz,
    suspended_at          timestamptz,
    terminated_at         timestamptz,
    termination_reason    text,
    -- One delivery at a time may create the droplet (DigitalOcean does not deduplicate).
    create_holder         uuid,
    create_lease_until    timestamptz,
    create_attempts       integer     NOT NULL DEFAULT 0,
    -- Every account a create was tried on: where a lost create's droplet is looked for by tag.
    tried_accounts        uuid[]      NOT NULL DEFAULT '{}',
    -- An admin retry starts a new provisioning round (its messages' ids include it).
    provisioning_round    integer     NOT NULL DEFAULT 1,
    -- Counted on the account: decremented once when the droplet goes.
    counted               boolean     NOT NULL DEFAULT false,
    command_id            uuid,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_by_customer ON orders (customer_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX orders_one_per_droplet ON orders (do_account_id, droplet_id) WHERE droplet_id IS NOT NULL;

CREATE TABLE order_status_history (
    id          bigserial   PRIMARY KEY,
    order_id    uuid        NOT NULL REFERENCES orders (id),
    from_status text,
    to_status   text        NOT NULL,
    actor       text        NOT NULL,
    reason      text,
    at          timestamptz NOT NULL
);
CREATE INDEX order_status_history_by_order ON order_status_history (order_id, id);

-- A customer's power, reboot or rebuild request and how DigitalOcean's action went.
CREATE TABLE order_actions (
    id           uuid        PRIMARY KEY,
    order_id     uuid        NOT NULL REFERENCES orders (id),
    action       text        NOT NULL CHECK (action IN ('power_on', 'power_off', 'reboot', 'rebuild')),
    image        text,
    status       text        NOT NULL CHECK (status IN ('in-progress', 'completed', 'errored')),
    do_action_id bigint,
    error        text,
    requested_at timestamptz NOT NULL,
    completed_at timestamptz
);
CREATE INDEX order_actions_by_order ON order_actions (order_id, requested_at DESC);
