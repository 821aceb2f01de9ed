-- NOTIFY serialises the commits of every notifying transaction database-wide (PostgreSQL takes
-- an exclusive lock on the notification queue from pre-commit until the commit is flushed), so a
-- trigger notifying on every outbox insert defeated group commit: pgbench with one NOTIFY per
-- transaction ran at 28% of its plain rate on our 2-core machine. Writers now choose: the hot
-- request path wakes its own process's relay after the commit (no NOTIFY), and writers that
-- cannot run code after their commit notify inside their statement (`orderflow_outbox::enqueue`).
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
