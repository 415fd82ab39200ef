-- Login sessions. A login opens one; its short-lived access tokens (JWTs) name it,
-- and each request checks it is still open, so that logging out, deleting the user
-- or changing its role or password ends it at once. The refresh token that gets
-- new access tokens is kept only as its SHA-256 (it is a 256-bit random secret).
CREATE TABLE IF NOT EXISTS sessions (
  id VARCHAR(32) PRIMARY KEY,
  username VARCHAR(50) NOT NULL REFERENCES users (username) ON DELETE CASCADE ON UPDATE CASCADE,
  refresh_hash BYTEA NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at TIMESTAMPTZ NOT NULL,
  revoked_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS idx_sessions_username ON sessions (username);
CREATE INDEX IF NOT EXISTS idx_sessions_expires_at ON sessions (expires_at);

-- The token signing key no longer lives in the database (IOTMON_JWT_KEYS or the data directory).
DELETE FROM service_settings WHERE name = 'jwt_signing_key';
