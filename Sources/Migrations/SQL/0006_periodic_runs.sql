-- Leases of periodic jobs that must run once per interval across every process (the deposit
-- reconciler, later the lifecycle scheduler): a process runs the job only when it moved
-- next_run_at forward itself.
CREATE TABLE periodic_runs (
    name        text        PRIMARY KEY,
    holder      text        NOT NULL,
    started_at  timestamptz NOT NULL,
    next_run_at timestamptz NOT NULL
);
