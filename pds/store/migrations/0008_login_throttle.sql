-- Failed password checks, so the login throttle survives a restart
-- (accounts.Throttle; keys are "addr:…", "acct:…" and "acct-addr:…").
CREATE TABLE login_failure (
    key TEXT NOT NULL,
    at  INTEGER NOT NULL -- unix milliseconds
);
CREATE INDEX login_failure_key ON login_failure (key, at);
CREATE INDEX login_failure_at ON login_failure (at);

-- App passwords are found by a keyed hash of the secret (HMAC-SHA256), so a
-- wrong password costs no argon2 run per app password. Rows made before this
-- have none; it is filled in on their first successful use.
ALTER TABLE app_password ADD COLUMN lookup_hash TEXT;
CREATE INDEX app_password_lookup ON app_password (lookup_hash);
