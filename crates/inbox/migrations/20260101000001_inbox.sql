-- Ids of events already applied, per consumer. Inserting the id in the same transaction as the
-- change makes a redelivery a no-op.
CREATE TABLE inbox (
    consumer     TEXT        NOT NULL,
    event_id     UUID        NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
