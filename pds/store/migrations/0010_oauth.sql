-- The OAuth authorization server (pds/oauth).
-- A pushed authorization request, from PAR until its code is exchanged.
CREATE TABLE oauth_request (
    id           TEXT PRIMARY KEY,      -- the request_uri's random part
    client_id    TEXT NOT NULL,
    params       BLOB NOT NULL,         -- JSON of the authorization parameters
    dpop_jkt     TEXT,                  -- the key thumbprint the PAR was made with
    client_auth  TEXT NOT NULL,         -- "none" or "private_key_jwt:<kid>"
    expires_at   INTEGER NOT NULL,      -- unix seconds
    did          TEXT,                  -- the account that approved it
    code_hash    TEXT UNIQUE,           -- SHA-256 of the issued code
    code_used    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX oauth_request_expires ON oauth_request (expires_at);

-- A grant: one app signed in to one account (a session, in the reference's words).
CREATE TABLE oauth_grant (
    id            TEXT PRIMARY KEY,
    did           TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    client_name   TEXT NOT NULL,
    scope         TEXT NOT NULL,
    dpop_jkt      TEXT NOT NULL,
    client_auth   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,     -- the session's hard end
    last_used_at  INTEGER NOT NULL,
    refresh_hash  TEXT NOT NULL UNIQUE, -- SHA-256 of the current refresh token
    refresh_expires_at INTEGER NOT NULL
);
CREATE INDEX oauth_grant_did ON oauth_grant (did);

-- Refresh tokens already rotated away: presenting one again revokes its grant.
CREATE TABLE oauth_used_refresh (
    hash     TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX oauth_used_refresh_grant ON oauth_used_refresh (grant_id);

-- Consent remembered per account, client and scope set.
CREATE TABLE oauth_consent (
    did       TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope     TEXT NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (did, client_id)
);
