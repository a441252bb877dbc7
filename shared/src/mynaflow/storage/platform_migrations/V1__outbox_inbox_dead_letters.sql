-- The platform's tables, created in every service's schema (search_path = that schema).

-- Events written in the same transaction as the state change; the relay publishes them in id
-- order and then sets published_at.
CREATE TABLE outbox (
    id           bigserial   PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    topic        text        NOT NULL,
    key          text,
    payload      bytea       NOT NULL,
    headers      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

-- The relay's poll query: unsent rows in id order. Sent rows are the vast majority, so they are
-- left out of the index.
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;

-- The channel the relay listens on. A schema name can hold any character and be up to 63 bytes,
-- so names that are not plain lowercase identifiers of modest length are hashed instead; the relay
-- asks this function for the name, so both ends always agree.
CREATE FUNCTION outbox_channel(schema_name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN schema_name ~ '^[a-z_][a-z0-9_]{0,48}$' THEN schema_name || '_outbox'
        ELSE 'outbox_' || md5(schema_name)
    END
$$;

-- Wake the relay when rows arrive. The notification is sent at commit, and only if the
-- transaction commits. search_path is fixed so the trigger works whatever the inserting
-- session's search path is.
CREATE FUNCTION outbox_notify() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    PERFORM pg_notify(outbox_channel(TG_TABLE_SCHEMA), '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify_on_insert
    AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Ids of events already applied, per consumer: a redelivered event changes nothing.
CREATE TABLE inbox (
    consumer     text        NOT NULL,
    event_id     text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Poison messages, individual numbers already redacted. One row per source coordinate, so a
-- redelivered poison message neither adds a row nor emits a second dead-letter event.
CREATE TABLE dead_letters (
    id           bigserial   PRIMARY KEY,
    service      text        NOT NULL,
    source_topic text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    key          text,
    payload      bytea       NOT NULL,
    reason       text        NOT NULL,
    error        text        NOT NULL,
    redactions   integer     NOT NULL DEFAULT 0,
    event_id     uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_topic, partition, "offset")
);
