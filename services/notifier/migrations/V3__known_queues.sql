-- Queues whose membership the registry has reported, even when nobody is left in them: an
-- assignee who is not among a known queue's members has left and is never reminded.
CREATE TABLE membership_known (
    queue  text PRIMARY KEY
);
