-- Reconciliation polls PENDING deposits and, until Tripay's expiry plus grace, CANCELED and
-- FAILED ones whose transaction may still be paid: an index for that predicate.
DROP INDEX IF EXISTS deposits_to_reconcile;
CREATE INDEX deposits_to_reconcile ON deposits (next_reconcile_at NULLS FIRST, created_at)
    WHERE status IN ('PENDING', 'CANCELED', 'FAILED') AND reference IS NOT NULL;

-- Dead-lettered commands recorded before 0009 were "failed"; they are "stalled" (not final).
UPDATE commands SET status = 'stalled' WHERE status = 'failed' AND error_code = 'PROCESSING_FAILED';
