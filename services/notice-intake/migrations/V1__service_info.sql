-- The service's first migration: who owns this schema. Business tables come in V2 and later.
CREATE TABLE service_info (
    service    text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO service_info (service) VALUES ('notice-intake');
