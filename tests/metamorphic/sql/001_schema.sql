-- Target schema of the metamorphic test's generic model (tests/metamorphic/mapping.yaml).
--
-- Not MediChat: three collections that together exercise the engine broadly.
--   accounts  ObjectId _id; run-wide unique email; a self-reference (referrer); optional
--             sub-document (profile); arrays of scalars under per-document unique keys
--             (tags: merge, badges: reject); sub-documents without _id (addresses) with a
--             grandchild array (phones); sub-documents with their own _id (devices) with a
--             grandchild array of sub-documents (sessions); a map keyed by account ids
--             (follows); catch-all jsonb columns (extra) of the fields nothing maps, in
--             accounts, account_addresses and account_devices.
--   items     mixed _id types (int, string, ObjectId); a split string (aliases) under a
--             per-document unique key.
--   orders    run-wide unique number; references to accounts (buyer: reject when
--             dangling, seller: NULL) and to items (from line elements, NULL).
--
-- Conventions as in sql/001_schema.sql: uuid primary keys derived by the converter, no
-- defaults, children cascade from their parents, references set NULL when the
-- referenced row goes (buyer_id cascades: a dangling buyer rejects the order).

CREATE TABLE IF NOT EXISTS public.accounts (
    id          uuid PRIMARY KEY,
    email       text NOT NULL,
    name        text,
    age         integer,
    age_text    text,
    score       numeric,
    active      boolean,
    joined      timestamptz,
    referrer_id uuid REFERENCES public.accounts (id) ON DELETE SET NULL,
    extra       jsonb,
    CONSTRAINT accounts_email_key UNIQUE (email)
);

CREATE TABLE IF NOT EXISTS public.account_profiles (
    id         uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES public.accounts (id) ON DELETE CASCADE,
    bio        text,
    city       text,
    CONSTRAINT account_profiles_account_id_key UNIQUE (account_id)
);

CREATE TABLE IF NOT EXISTS public.account_tags (
    id         uuid PRIMARY KEY,
    account_id uuid    NOT NULL REFERENCES public.accounts (id) ON DELETE CASCADE,
    ordinal    integer NOT NULL,
    tag        text    NOT NULL,
    CONSTRAINT account_tags_account_id_tag_key UNIQUE (account_id, tag)
);

CREATE TABLE IF NOT EXISTS public.account_badges (
    id         uuid PRIMARY KEY,
    account_id uuid    NOT NULL REFERENCES public.accounts (id) ON DELETE CASCADE,
    ordinal    integer NOT NULL,
    badge      text    NOT NULL,
    CONSTRAINT account_badges_account_id_badge_key UNIQUE (account_id, badge)
);

CREATE TABLE IF NOT EXISTS public.account_addresses (
    id         uuid PRIMARY KEY,
    account_id uuid    NOT NULL REFERENCES public.accounts (id) ON DELETE CASCADE,
    ordinal    integer NOT NULL,
    city       text,
    zip        text,
    extra      jsonb
);

CREATE TABLE IF NOT EXISTS public.address_phones (
    id         uuid PRIMARY KEY,
    account_id uuid    NOT NULL REFERENCES public.accounts (id) ON DELETE CASCADE,
    address_id uuid    NOT NULL REFERENCES public.account_addresses (id) ON DELETE CASCADE,
    ordinal    integer NOT NULL,
    phone      text
);

CREATE TABLE IF NOT EXISTS public.account_devices (
    id         uuid PRIMARY KEY,
    account_id uuid    NOT NULL REFERENCES public.accounts (id) ON DELETE CASCADE,
    ordinal    integer NOT NULL,
    kind       text,
    label      text,
    extra      jsonb
);

CREATE TABLE IF NOT EXISTS public.device_sessions (
    id         uuid PRIMARY KEY,
    account_id uuid    NOT NULL REFERENCES public.accounts (id) ON DELETE CASCADE,
    device_id  uuid    NOT NULL REFERENCES public.account_devices (id) ON DELETE CASCADE,
    ordinal    integer NOT NULL,
    started    timestamptz,
    minutes    integer
);

CREATE TABLE IF NOT EXISTS public.account_follows (
    id          uuid PRIMARY KEY,
    account_id  uuid    NOT NULL REFERENCES public.accounts (id) ON DELETE CASCADE,
    ordinal     integer NOT NULL,
    -- No foreign key here, on purpose: the test checks every references column
    -- itself (metamorphic.py), so a dangling map key stored as it is shows as that
    -- failure instead of failing every load and hiding everything else.
    followed_id uuid,
    key_text    text    NOT NULL,
    level       integer
);

CREATE TABLE IF NOT EXISTS public.items (
    id    uuid PRIMARY KEY,
    name  text,
    price numeric(12, 2),
    kind  text
);

CREATE TABLE IF NOT EXISTS public.item_aliases (
    id      uuid PRIMARY KEY,
    item_id uuid    NOT NULL REFERENCES public.items (id) ON DELETE CASCADE,
    ordinal integer NOT NULL,
    alias   text    NOT NULL,
    CONSTRAINT item_aliases_item_id_alias_key UNIQUE (item_id, alias)
);

CREATE TABLE IF NOT EXISTS public.orders (
    id        uuid PRIMARY KEY,
    number    text NOT NULL,
    buyer_id  uuid NOT NULL REFERENCES public.accounts (id) ON DELETE CASCADE,
    seller_id uuid REFERENCES public.accounts (id) ON DELETE SET NULL,
    status    text CHECK (status IN ('new', 'paid', 'shipped')),
    placed    timestamptz,
    meta      jsonb,
    CONSTRAINT orders_number_key UNIQUE (number)
);

CREATE TABLE IF NOT EXISTS public.order_lines (
    id       uuid PRIMARY KEY,
    order_id uuid    NOT NULL REFERENCES public.orders (id) ON DELETE CASCADE,
    ordinal  integer NOT NULL,
    sku      text,
    qty      integer,
    item_id  uuid REFERENCES public.items (id) ON DELETE SET NULL
);

CREATE TABLE IF NOT EXISTS public.line_discounts (
    id       uuid PRIMARY KEY,
    order_id uuid    NOT NULL REFERENCES public.orders (id) ON DELETE CASCADE,
    line_id  uuid    NOT NULL REFERENCES public.order_lines (id) ON DELETE CASCADE,
    ordinal  integer NOT NULL,
    code     text,
    pct      numeric(5, 2)
);
