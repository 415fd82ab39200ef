-- Gateway API keys: who may write readings (POST /api/readings), and which devices.
-- Only the SHA-256 digest of a key is kept (see iotmon/core/api_keys.py); `hint` is
-- its first characters, for telling keys apart in a listing. No devices and no
-- locations: every device. A revoked key stays, for the record.

CREATE TABLE IF NOT EXISTS api_keys (
  id BIGSERIAL PRIMARY KEY,
  name VARCHAR(100) NOT NULL CHECK (length(name) > 0),
  secret_hash BYTEA NOT NULL UNIQUE,
  hint VARCHAR(20) NOT NULL,
  devices TEXT[] NOT NULL DEFAULT '{}',
  locations TEXT[] NOT NULL DEFAULT '{}',
  auto_register BOOLEAN NOT NULL DEFAULT false,
  created_by VARCHAR(50) NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_used_at TIMESTAMPTZ,
  revoked_at TIMESTAMPTZ
);
