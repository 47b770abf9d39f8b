-- When a PENDING deposit was last checked against Tripay's transaction detail: each round
-- claims the deposits not checked recently, so several payments workers share the work.
ALTER TABLE deposits ADD COLUMN reconciled_at timestamptz;
