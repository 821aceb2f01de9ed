-- Idempotency-Key on every state-changing request, not only creates. One key names one request
-- of one caller (`customer_id` holds the caller's user id, an admin's too): a create or a
-- transition. For a transition the row also keeps what it committed (the order's status,
-- version, cancel reason and change time right after it), so a retry is answered with exactly
-- that even after the order has moved on. The row is written in the very statement that
-- commits the transition. Creates leave the result columns empty (a retried create answers the
-- order as it is).
ALTER TABLE idempotency_keys
    ADD COLUMN result_status        TEXT,
    ADD COLUMN result_version       BIGINT,
    ADD COLUMN result_cancel_reason TEXT,
    ADD COLUMN result_updated_at    TIMESTAMPTZ;

-- Keys expire (see IDEMPOTENCY_KEY_LIFETIME); the purge finds old ones by age.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
