-- The alert outbox: every alert change committed and not yet published on
-- `alerts`. A move writes its history row and its outbox row in one
-- transaction; a relay (iotmon/adapters/postgres/outbox.py) publishes the rows
-- in sequence order and deletes them, so a crash at any instant between the
-- commit and the publish only delays the event, and a crash after the publish
-- sends it again (consumers drop a sequence they have seen).
CREATE TABLE IF NOT EXISTS alert_outbox (
  seq BIGINT PRIMARY KEY REFERENCES alert_history (id) ON DELETE CASCADE,
  source TEXT NOT NULL,          -- the CloudEvent source: who made the change
  change JSONB NOT NULL,         -- the alert change as it was made (the event's data)
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
