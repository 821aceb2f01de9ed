-- The inventory service's own tables. The outbox and inbox tables come from their crates.
--
-- Stock model: `stock_level` is the number of units available for sale. Reserving stock for a
-- confirmed order moves units from `stock_level` to `reserved`; releasing them (the order was
-- cancelled) moves them back. Admin adjustments change `stock_level` only. Neither column can go
-- negative: the CHECKs are the last line of defence behind the conditional UPDATEs.
CREATE TABLE products (
    id                  UUID        PRIMARY KEY,
    sku                 TEXT        NOT NULL UNIQUE,
    name                TEXT        NOT NULL,
    unit_price_minor    BIGINT      NOT NULL CHECK (unit_price_minor >= 0),
    currency            TEXT        NOT NULL,
    stock_level         BIGINT      NOT NULL CHECK (stock_level >= 0),
    reserved            BIGINT      NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    low_stock_threshold BIGINT      NOT NULL CHECK (low_stock_threshold >= 0),
    -- One gapless sequence per product across ALL its events (upserted and stock level
    -- changed): consumers keep "newest version wins" copies with it.
    version             BIGINT      NOT NULL CHECK (version >= 1),
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);

-- What inventory decided for each order it has heard of. A second OrderConfirmed, or an
-- OrderCancelled for an order never reserved (or already released), changes nothing.
CREATE TABLE order_reservations (
    order_id           UUID        PRIMARY KEY,
    status             TEXT        NOT NULL CHECK (status IN ('reserved', 'rejected', 'released', 'cancelled')),
    -- When the order event that decided this was committed by the orders service, and when we
    -- applied it: the difference is the consumer's end-to-end lag (benchmarks read it).
    event_committed_at TIMESTAMPTZ,
    decided_at         TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- The units held for a reserved order, per product, so a release gives back exactly these.
CREATE TABLE reservation_lines (
    order_id   UUID   NOT NULL REFERENCES order_reservations (order_id),
    product_id UUID   NOT NULL REFERENCES products (id),
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);
