-- Since when each queue has continuously held ready messages, as seen by whoever samples the
-- queues (the ingress every 15 s, armadactl queues). A row exists only while the queue is
-- non-empty; its age bounds the age of the queue's oldest message from above (RabbitMQ's
-- quorum queues do not report the head message's timestamp).
CREATE TABLE queue_backlog (
    vhost       text        NOT NULL,
    queue       text        NOT NULL,
    ready_since timestamptz NOT NULL,
    observed_at timestamptz NOT NULL,
    PRIMARY KEY (vhost, queue)
);
