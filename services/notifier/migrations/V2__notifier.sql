-- The notifier's own state: contact directories, deliveries and their messages (durable retry
-- state), events held until their recipient is known, the heartbeat watch, deadlines seen (for
-- the digest) and apology batches. See docs/notifier.md.

-- Residents, from resident.moves. Personal data: never logged, never on a topic.
CREATE TABLE residents (
    resident_id   text PRIMARY KEY,
    household_id  text NOT NULL,
    name          text,
    name_kana     text,
    postal_code   text,
    address       text,
    email         text,
    phone         text,
    moved_out_on  date,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX residents_household_idx ON residents (household_id);

-- Queue members (registry's queue-membership-changed: the whole current list each time) and
-- assignees (notice-assigned), so that someone who has left is never reminded.
CREATE TABLE queue_members (
    queue     text NOT NULL,
    staff_id  text NOT NULL,
    PRIMARY KEY (queue, staff_id)
);
CREATE TABLE assignees (
    work_item_id  text PRIMARY KEY,
    queue         text NOT NULL,
    assignee      text NOT NULL
);

-- One message = what is sent once: a single delivery, or a bucket that aggregates several.
CREATE TABLE messages (
    message_id       uuid PRIMARY KEY,
    aggregation_key  text,
    recipient_kind   text NOT NULL,
    recipient_id     text NOT NULL,
    household_id     text,
    channel          text NOT NULL,
    template         text NOT NULL,
    status           text NOT NULL,  -- pending | retrying | sent | dead | undeliverable_moved
    send_after       timestamptz NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    message_key      text NOT NULL,  -- idempotency key of its first delivery (Message-ID)
    batch_id         text,
    created_at       timestamptz NOT NULL,
    sent_at          timestamptz
);
-- The delivery worker's poll: due messages in time order.
CREATE INDEX messages_due_idx ON messages (send_after) WHERE status IN ('pending', 'retrying');
-- At most one open bucket per aggregation key.
CREATE UNIQUE INDEX messages_open_bucket_idx ON messages (aggregation_key)
    WHERE status IN ('pending', 'retrying') AND aggregation_key IS NOT NULL;

-- One delivery = one (source event, recipient, channel), recorded `queued` when consumed.
CREATE TABLE deliveries (
    delivery_id      uuid PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    source_event_id  text NOT NULL,
    source_type      text NOT NULL,
    recipient_kind   text NOT NULL,
    recipient_id     text NOT NULL,
    channel          text NOT NULL,
    template         text NOT NULL,
    message_id       uuid NOT NULL REFERENCES messages (message_id),
    status           text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    item             jsonb NOT NULL,  -- the source event's data, for the template
    batch_id         text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX deliveries_message_idx ON deliveries (message_id);
CREATE INDEX deliveries_recipient_idx ON deliveries (recipient_id, created_at);
CREATE INDEX deliveries_status_idx ON deliveries (status, created_at);

-- Events whose recipient is not in the directory yet: retried until `give_up_at`, then
-- dead-lettered. Kept here (not in the consumer) so they never hold up their partition.
CREATE TABLE held_events (
    event_id           text PRIMARY KEY,
    source_topic       text NOT NULL,
    source_partition   integer NOT NULL,
    source_offset      bigint NOT NULL,
    kafka_key          bytea,
    payload            bytea NOT NULL,
    missing            text NOT NULL,
    first_received_at  timestamptz NOT NULL,
    give_up_at         timestamptz NOT NULL,
    retry_at           timestamptz NOT NULL,
    attempts           integer NOT NULL DEFAULT 0
);
CREATE INDEX held_events_retry_idx ON held_events (retry_at);

-- The deadline-watcher's heartbeat (one row): last seen, and the outage already alerted.
CREATE TABLE heartbeat_watch (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_seen_at  timestamptz NOT NULL,
    alerted_for   timestamptz
);

-- Deadlines as the notifier has seen them on deadlines.events, for the daily digest.
CREATE TABLE tracked_deadlines (
    key        text PRIMARY KEY,
    policy     text NOT NULL,
    queue      text,
    due_at     timestamptz NOT NULL,
    starts_at  timestamptz,
    breached   boolean NOT NULL DEFAULT false,
    open       boolean NOT NULL DEFAULT true,
    subject    jsonb NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX tracked_deadlines_open_idx ON tracked_deadlines (queue) WHERE open;

-- Bulk apology letters: drafted by one staff member, released by another.
CREATE TABLE apology_batches (
    batch_id      text PRIMARY KEY,
    requested_by  text NOT NULL,
    status        text NOT NULL,  -- draft | released | completed
    cases         jsonb NOT NULL,
    households    integer NOT NULL,
    drafted_at    timestamptz NOT NULL,
    released_by   text,
    released_at   timestamptz,
    completed_at  timestamptz
);
