-- The outbox: every token the reference PDS would send by email (PLC
-- operation signature, email confirmation and update, password reset,
-- account deletion) is kept here for the owner to read in the window or
-- with `hearthd outbox list`. One live token per account and purpose; a new
-- request replaces it, using it deletes it (pds/outbox).
CREATE TABLE outbox (
    did        TEXT NOT NULL REFERENCES account(did) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    token      TEXT NOT NULL,
    email      TEXT,          -- the address the mail would have gone to, if any
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (did, purpose)
);
CREATE INDEX outbox_token ON outbox (purpose, token);

-- Email addresses the owner confirmed with a confirm_email token
-- (accounts.EmailConfirmed); a changed address is unconfirmed again.
CREATE TABLE email_confirmed (
    did          TEXT PRIMARY KEY REFERENCES account(did) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    confirmed_at TEXT NOT NULL
);
