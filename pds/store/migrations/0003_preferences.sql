-- app.bsky.actor preferences, stored per account as the JSON array clients send.
CREATE TABLE preference (
    did   TEXT PRIMARY KEY REFERENCES account(did) ON DELETE CASCADE,
    prefs BLOB NOT NULL
);
