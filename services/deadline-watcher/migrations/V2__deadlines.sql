-- Deadlines, one row per key (the current generation), and the ledger of every stage decided.

CREATE TABLE deadlines (
    key               text        PRIMARY KEY,
    generation        integer     NOT NULL CHECK (generation >= 1),
    policy            text        NOT NULL,
    due_at            timestamptz NOT NULL,
    starts_at         timestamptz,
    subject           jsonb       NOT NULL,
    audience          jsonb       NOT NULL,
    status            text        NOT NULL CHECK (status IN ('open', 'cleared')),
    scheduled_at      timestamptz NOT NULL,
    -- Set when the deadline arrived overdue: nothing fires before it (CATCHUP_SETTLE_S).
    settle_until      timestamptz,
    -- Every stage at or before this instant has been decided (fired or skipped).
    processed_through timestamptz,
    -- When the watcher must look at this deadline again; null when nothing is left to fire.
    next_fire_at      timestamptz,
    breached_at       timestamptz,
    cleared_at        timestamptz,
    clear_reason      text,
    met               boolean,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- The claim query and the "when is the next one" query: only deadlines with something left to
-- fire are in the index, so a tick costs the same whatever the number of finished deadlines.
CREATE INDEX deadlines_next_fire_idx ON deadlines (next_fire_at) WHERE next_fire_at IS NOT NULL;

-- Reports (CLI `--due-within`) and the daily digest's overdue list: open deadlines by due time.
CREATE INDEX deadlines_open_due_idx ON deadlines (due_at) WHERE status = 'open';

-- One row per (key, generation, stage, repetition) ever decided: the primary key is what makes
-- a stage fire at most once across restarts and replicas. Skipped stages are recorded too, so
-- they are never emitted later.
CREATE TABLE stage_firings (
    key         text        NOT NULL,
    generation  integer     NOT NULL,
    stage       text        NOT NULL,
    repetition  integer     NOT NULL CHECK (repetition >= 0),
    role        text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('fired', 'skipped')),
    at          timestamptz NOT NULL,
    decided_at  timestamptz NOT NULL,
    late        boolean     NOT NULL,
    event_id    uuid,
    PRIMARY KEY (key, generation, stage, repetition)
);

-- One digest per JST date, whatever the number of replicas.
CREATE TABLE digests (
    digest_on     date        PRIMARY KEY,
    at            timestamptz NOT NULL,
    fired_at      timestamptz NOT NULL,
    overdue_count integer     NOT NULL,
    event_id      uuid        NOT NULL
);
