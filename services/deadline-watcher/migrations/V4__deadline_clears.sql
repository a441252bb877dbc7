-- The latest clear of each key, by the CloudEvent `time` of the clear request. A clear may
-- overtake its schedule (a producer's retry, a replay): a schedule sent before the latest clear
-- of its key must not reopen resolved work (docs/deadline-watcher.md, "A clear before its
-- schedule"). Kept for keys the watcher never scheduled too; keys are already redacted.
CREATE TABLE deadline_clears (
    key           text        PRIMARY KEY,
    cleared_as_of timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
