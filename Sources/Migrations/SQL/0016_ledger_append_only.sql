-- The ledger is append-only in the database itself: an entry, once written, is never changed or
-- removed, whoever connects (a correction is a new entry: an admin adjustment). TRUNCATE, a
-- statement only an owner can run on a whole table (the benchmark harness resets its own
-- database with it), is left to privileges.
CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only: % refused (entry %)', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
