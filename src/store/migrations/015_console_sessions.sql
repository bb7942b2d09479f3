-- Signed-in sessions of the operators' console (docs/API.md, "Console"). In PostgreSQL, so a session
-- survives a restart and works on whichever gateway process answers. Only a digest of the session
-- token is kept, so a read of this table signs no one in; the key's digest lets each request check
-- that the key is still in the clients file.
CREATE TABLE console_sessions (
  token_sha256  text PRIMARY KEY,
  client_id     text NOT NULL,
  key_sha256    text NOT NULL,
  csrf_token    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
