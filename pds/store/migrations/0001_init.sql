-- Accounts, their keys and repository heads.
CREATE TABLE account (
    did           TEXT PRIMARY KEY,
    handle        TEXT NOT NULL UNIQUE,
    email         TEXT UNIQUE,
    password_hash TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'active',
    signing_key   BLOB NOT NULL,
    rotation_key  BLOB NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE TABLE repo_root (
    did          TEXT PRIMARY KEY REFERENCES account(did) ON DELETE CASCADE,
    commit_cid   TEXT NOT NULL,
    rev          TEXT NOT NULL,
    data_cid     TEXT NOT NULL,
    commit_bytes BLOB NOT NULL
);

-- Current records. The MST is derived from (collection/rkey -> cid) and kept in memory.
CREATE TABLE record (
    did        TEXT NOT NULL,
    collection TEXT NOT NULL,
    rkey       TEXT NOT NULL,
    cid        TEXT NOT NULL,
    rev        TEXT NOT NULL,
    bytes      BLOB NOT NULL,
    PRIMARY KEY (did, collection, rkey)
) WITHOUT ROWID;
CREATE INDEX record_cid ON record (did, cid);
CREATE INDEX record_rev ON record (did, rev);

CREATE TABLE blob (
    did        TEXT NOT NULL,
    cid        TEXT NOT NULL,
    mime       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (did, cid)
) WITHOUT ROWID;

CREATE TABLE record_blob (
    did        TEXT NOT NULL,
    collection TEXT NOT NULL,
    rkey       TEXT NOT NULL,
    blob_cid   TEXT NOT NULL,
    PRIMARY KEY (did, collection, rkey, blob_cid)
) WITHOUT ROWID;
CREATE INDEX record_blob_cid ON record_blob (did, blob_cid);

-- Sessions: refresh tokens rotate; the old one stays valid for a short grace.
CREATE TABLE refresh_token (
    id           TEXT PRIMARY KEY,
    did          TEXT NOT NULL REFERENCES account(did) ON DELETE CASCADE,
    app_password TEXT,
    expires_at   INTEGER NOT NULL,
    next_id      TEXT,
    rotated_at   INTEGER -- unix milliseconds
);
CREATE INDEX refresh_token_did ON refresh_token (did);

CREATE TABLE app_password (
    did           TEXT NOT NULL REFERENCES account(did) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    privileged    INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (did, name)
);

CREATE TABLE invite_code (
    code       TEXT PRIMARY KEY,
    uses_left  INTEGER NOT NULL,
    created_at TEXT NOT NULL
);

-- did:plc operations: published = 0 until the directory accepted them.
CREATE TABLE plc_op (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    did        TEXT NOT NULL,
    op         BLOB NOT NULL,
    published  INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX plc_op_did ON plc_op (did, id);

-- The event log: frames stored encoded so replay is a range scan.
CREATE TABLE event (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    did   TEXT NOT NULL,
    kind  TEXT NOT NULL,
    time  TEXT NOT NULL,
    frame BLOB NOT NULL
);

CREATE TABLE setting (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
