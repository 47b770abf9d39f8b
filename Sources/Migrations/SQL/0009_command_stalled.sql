-- A command whose message was dead-lettered is "stalled", not "failed": an operator may still
-- replay it and it may then succeed, so a client must not take it as final (and, say, order
-- again under another key).
ALTER TABLE commands DROP CONSTRAINT commands_status_check;
ALTER TABLE commands ADD CONSTRAINT commands_status_check CHECK (status IN ('pending', 'succeeded', 'failed', 'stalled'));
