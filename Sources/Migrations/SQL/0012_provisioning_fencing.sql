-- Provisioning made safe against slow and repeated deliveries (review of 0011):
-- when a create last failed ambiguously (no answer: it may still appear at DigitalOcean), so the
-- next attempt waits a quiet period before creating again; when the order's droplet was
-- recorded, so its boot timeout runs from then; the account's own limit as DigitalOcean reports
-- it, apart from the one the admin sets; a droplet action recorded before it is posted.
ALTER TABLE orders ADD COLUMN ambiguous_create_at timestamptz;
ALTER TABLE orders ADD COLUMN droplet_recorded_at timestamptz;
ALTER TABLE do_accounts ADD COLUMN provider_droplet_limit integer CHECK (provider_droplet_limit >= 0);
ALTER TABLE order_actions DROP CONSTRAINT order_actions_status_check;
ALTER TABLE order_actions ADD CONSTRAINT order_actions_status_check CHECK (status IN ('requested', 'in-progress', 'completed', 'errored'));
-- One delivery at a time posts a droplet action (claimed with the row, before the post).
ALTER TABLE order_actions ADD COLUMN claim_until timestamptz;
