-- The orders service's own tables. The outbox table comes from the orderflow-outbox crate.

-- Local copy of the catalog, fed by inventory's `ProductUpserted` events. Prices are taken from
-- here, never from the client.
CREATE TABLE catalog_products (
    product_id       UUID        PRIMARY KEY,
    sku              TEXT        NOT NULL UNIQUE,
    name             TEXT        NOT NULL,
    unit_price_minor BIGINT      NOT NULL CHECK (unit_price_minor >= 0),
    currency         TEXT        NOT NULL,
    version          BIGINT      NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE SEQUENCE order_number_seq;

CREATE TABLE orders (
    id            UUID        PRIMARY KEY,
    order_number  TEXT        NOT NULL UNIQUE,
    customer_id   UUID        NOT NULL,
    customer_name TEXT        NOT NULL,
    status        TEXT        NOT NULL CHECK (status IN
                    ('Draft', 'Confirmed', 'Processing', 'Shipped', 'Delivered', 'Cancelled')),
    currency      TEXT        NOT NULL,
    total_minor   BIGINT      NOT NULL,
    version       BIGINT      NOT NULL,
    cancel_reason TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- Listing: own orders newest first, and the admin's all-orders view filtered by status.
CREATE INDEX orders_customer_created_idx ON orders (customer_id, created_at DESC, id DESC);
CREATE INDEX orders_status_created_idx ON orders (status, created_at DESC, id DESC);
CREATE INDEX orders_created_idx ON orders (created_at DESC, id DESC);

CREATE TABLE order_lines (
    order_id         UUID    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no          INT     NOT NULL,
    sku              TEXT    NOT NULL,
    product_id       UUID    NOT NULL,
    product_name     TEXT    NOT NULL,
    quantity         INT     NOT NULL CHECK (quantity > 0),
    unit_price_minor BIGINT  NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- Safe retries of POST /api/orders: one row per (customer, key), remembering what was asked.
CREATE TABLE idempotency_keys (
    customer_id  UUID        NOT NULL,
    key          TEXT        NOT NULL,
    request_hash TEXT        NOT NULL,
    order_id     UUID        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, key)
);
