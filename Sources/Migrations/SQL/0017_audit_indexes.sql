-- armadactl audit finds unsettled commands and deliveries without reading the tables whole: both
-- grow without bound, and what the audit looks for is a handful of rows.
CREATE INDEX commands_unsettled ON commands (created_at) WHERE status IN ('pending', 'stalled');
CREATE INDEX notification_deliveries_unsettled ON notification_deliveries (created_at) WHERE status IN ('queued', 'failed');
