-- card-registry's state: residents, cards (with their move-in case), notice work items, queues,
-- known staff, commands parked until what they name arrives, and the audit history.

CREATE TABLE residents (
    resident_id  text PRIMARY KEY,
    household_id text NOT NULL,
    name         text NOT NULL,
    address      text NOT NULL,
    birth_date   date NOT NULL,
    email        text,
    phone        text,
    postal_code  text,
    name_kana    text,
    moved_in_on  date,
    moved_out_on date,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cards (
    card_id                 text PRIMARY KEY,
    resident_id             text NOT NULL,
    household_id            text,
    state                   text NOT NULL,
    state_since             timestamptz NOT NULL,
    previous_state          text,
    application_date        date,
    issued_on               date,
    card_valid_until        date,
    certificate_valid_until date,
    -- The move-in case as a document; its status and due time as columns for the reports.
    move_in_case            jsonb,
    case_status             text,
    case_due_at             timestamptz,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cards_by_resident ON cards (resident_id);
CREATE INDEX cards_by_case ON cards (case_status, case_due_at) WHERE move_in_case IS NOT NULL;

CREATE TABLE work_items (
    key            text PRIMARY KEY,
    notice_id      text,
    receipt_id     uuid NOT NULL,
    kind           text,
    queue          text NOT NULL,
    status         text NOT NULL,
    resident_id    text,
    application_id text,
    opened_at      timestamptz NOT NULL,
    sla_due_on     date,
    due_at         timestamptz,
    assignee       text,
    resolved_at    timestamptz,
    resolved_by    text,
    resolution     text,
    note           text
);
-- The backlog and the open-items count per queue.
CREATE INDEX work_items_open ON work_items (queue, due_at) WHERE resolved_at IS NULL;
CREATE INDEX work_items_by_kind ON work_items (kind, opened_at);

CREATE TABLE queues (
    name       text PRIMARY KEY,
    members    text[] NOT NULL DEFAULT '{}',
    orphaned   boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A staff id is known once it has joined any queue (so a typo cannot pass the four-eyes check).
CREATE TABLE staff (
    staff_id        text PRIMARY KEY,
    first_joined_at timestamptz NOT NULL
);

CREATE TABLE pending_commands (
    command_id    text PRIMARY KEY,
    command_type  text NOT NULL,
    payload       jsonb NOT NULL,
    waiting_for   text NOT NULL,
    first_seen_at timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX pending_commands_by_reference ON pending_commands (waiting_for);
CREATE INDEX pending_commands_by_expiry ON pending_commands (expires_at);

CREATE TABLE history (
    id           bigserial PRIMARY KEY,
    entity_type  text NOT NULL,
    entity_id    text NOT NULL,
    action       text NOT NULL,
    outcome      text NOT NULL,
    staff_id     text,
    performed_at timestamptz,
    recorded_at  timestamptz NOT NULL,
    event_id     text NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX history_by_entity ON history (entity_type, entity_id, id);

-- Who read personal data through the read endpoints, what, and when (never the data itself).
CREATE TABLE access_log (
    id     bigserial PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    reader text NOT NULL,
    route  text NOT NULL,
    params jsonb NOT NULL DEFAULT '{}'
);
