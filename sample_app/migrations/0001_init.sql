-- The marketplace's core tables and the ledger of applied migrations.
-- orders.total_cents deliberately has no CHECK: the data-corruption drill writes negative totals
-- and the database verification must be the thing that notices them.

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    email         text        NOT NULL UNIQUE,
    password_hash text        NOT NULL,
    is_admin      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
    id          bigserial PRIMARY KEY,
    sku         text    NOT NULL UNIQUE,
    name        text    NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents >= 0),
    stock       integer NOT NULL CHECK (stock >= 0)
);

CREATE TABLE orders (
    id          bigserial PRIMARY KEY,
    user_id     bigint      NOT NULL REFERENCES users (id),
    product_id  bigint      NOT NULL REFERENCES products (id),
    quantity    integer     NOT NULL CHECK (quantity > 0),
    total_cents integer     NOT NULL,
    status      text        NOT NULL DEFAULT 'placed',
    payment_ref text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX orders_user_id_idx ON orders (user_id);

CREATE TABLE notifications (
    id       bigserial PRIMARY KEY,
    order_id bigint      NOT NULL REFERENCES orders (id),
    channel  text        NOT NULL,
    sent_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE schema_migrations (
    version    integer PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
