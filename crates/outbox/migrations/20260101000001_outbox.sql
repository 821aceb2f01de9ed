-- The transactional outbox: rows are written in the same transaction as the business change and
-- deleted by the relay once JetStream has acknowledged them.
CREATE TABLE outbox (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id          UUID        NOT NULL UNIQUE,
    aggregate_id      TEXT        NOT NULL,
    aggregate_version BIGINT      NOT NULL,
    subject           TEXT        NOT NULL,
    schema_name       TEXT        NOT NULL,
    payload           BYTEA       NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The relay checks "is there an earlier row of this aggregate?" for every claimed row.
CREATE INDEX outbox_aggregate_id_idx ON outbox (aggregate_id, id);

-- Wake relays at commit time, so latency is not a polling interval. One notification per
-- statement; PostgreSQL folds identical notifications of one transaction into one.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('orderflow_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
