-- The W3C trace context (docs/operations.md, "Tracing") the event was written in, so the relay
-- can send it as the message's `traceparent`/`tracestate` headers and a consumer continues the
-- trace. Nullable: events written outside any trace, and rows written by an older replica
-- during a rolling upgrade, have none. Adding nullable columns without a default only touches
-- the catalog, so this does not rewrite or long-lock the table.
ALTER TABLE outbox ADD COLUMN traceparent TEXT, ADD COLUMN tracestate TEXT;
