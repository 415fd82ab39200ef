-- Users of the API and dashboard (roles viewer < operator < admin), and the
-- service's own settings (the JWT signing key, shared by every replica).

CREATE TABLE IF NOT EXISTS users (
  username VARCHAR(50) PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9._-]{1,50}$'),
  password_hash TEXT NOT NULL,           -- scrypt: salt and parameters in the string
  role VARCHAR(20) NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS service_settings (
  name VARCHAR(50) PRIMARY KEY,
  value TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
