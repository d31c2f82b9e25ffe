package outbox

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/store"
)

// Purpose says what a token is for (the reference PDS's email token
// purposes).
type Purpose string

// The purposes a token can have.
const (
	PurposePLCOperation  Purpose = "plc_operation"
	PurposeConfirmEmail  Purpose = "confirm_email"
	PurposeUpdateEmail   Purpose = "update_email"
	PurposeResetPassword Purpose = "reset_password"
	PurposeDeleteAccount Purpose = "delete_account"
)

// TTL is how long a token stays valid (as the reference PDS's emailed
// tokens).
const TTL = 15 * time.Minute

// Message is one entry of the outbox: what the reference PDS would have
// mailed.
type Message struct {
	DID       string  `json:"did"`
	Purpose   Purpose `json:"purpose"`
	Token     string  `json:"token"`
	Email     string  `json:"email,omitempty"`
	CreatedAt string  `json:"created_at"`
	ExpiresAt string  `json:"expires_at"`
}

// Expired reports whether the token is past its expiry at now.
func (m Message) Expired(now time.Time) bool {
	t, err := time.Parse(time.RFC3339Nano, m.ExpiresAt)
	return err != nil || !now.Before(t)
}

// Outbox owns the outbox table.
type Outbox struct {
	db *store.Store
	// Now is the clock (time.Now when nil); tests move it.
	Now func() time.Time
	// notify, when set, hears of every new message after it is stored.
	notify func(Message)
}

// New returns the outbox of db. notify (may be nil) is called after each
// new message is committed: the desktop window shows a notification.
func New(db *store.Store, notify func(Message)) *Outbox {
	return &Outbox{db: db, notify: notify}
}

func (o *Outbox) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// tokenAlphabet is base32 without padding, as the reference's codes look
// (XXXXX-XXXXX); 10 symbols carry 50 bits.
const tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func newToken() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make a token: %w", err)
	}
	out := make([]byte, 0, 11)
	for i, c := range b {
		if i == 5 {
			out = append(out, '-')
		}
		out = append(out, tokenAlphabet[int(c)%len(tokenAlphabet)])
	}
	return string(out), nil
}

// normalize makes a token typed by a person comparable: upper case, no
// surrounding space.
func normalize(token string) string { return strings.ToUpper(strings.TrimSpace(token)) }

const sqlIssue = `INSERT INTO outbox(did, purpose, token, email, created_at, expires_at) VALUES(?, ?, ?, ?, ?, ?)
	ON CONFLICT(did, purpose) DO UPDATE SET token = excluded.token, email = excluded.email,
	created_at = excluded.created_at, expires_at = excluded.expires_at`

// Issue makes a new token for did and purpose (replacing an earlier one),
// stores it in tx and returns it. email is the address the reference would
// have written to ("" when the account has none).
func (o *Outbox) Issue(tx *store.Tx, did syntax.DID, purpose Purpose, email string) (Message, error) {
	tok, err := newToken()
	if err != nil {
		return Message{}, err
	}
	now := o.now().UTC()
	m := Message{DID: did.String(), Purpose: purpose, Token: tok, Email: email,
		CreatedAt: now.Format(time.RFC3339Nano), ExpiresAt: now.Add(TTL).Format(time.RFC3339Nano)}
	if _, err := tx.Exec(sqlIssue, m.DID, string(m.Purpose), m.Token, nullable(email), m.CreatedAt, m.ExpiresAt); err != nil {
		return Message{}, fmt.Errorf("store a %s token for %s: %w", purpose, did, err)
	}
	if o.notify != nil {
		tx.OnCommit(func() { o.notify(m) })
	}
	return m, nil
}

// IssueNow is Issue in its own transaction.
func (o *Outbox) IssueNow(ctx context.Context, did syntax.DID, purpose Purpose, email string) (Message, error) {
	var m Message
	err := o.db.Write(ctx, func(tx *store.Tx) error {
		var err error
		m, err = o.Issue(tx, did, purpose, email)
		return err
	})
	return m, err
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Errors a caller sees for a bad token (the reference's names and words).
func invalidToken() error { return errs.New(errs.ErrInvalidToken, "Token is invalid") }
func expiredToken() error { return errs.New(errs.ErrExpiredToken, "Token is expired") }

// Use checks token for did and purpose in tx and deletes it (a token works
// once). It returns the stored message (its Email is the address a
// requestEmailUpdate named). A wrong token is ErrInvalidToken, an expired
// one ErrExpiredToken.
func (o *Outbox) Use(tx *store.Tx, did syntax.DID, purpose Purpose, token string) (Message, error) {
	m, err := o.Check(tx, did, purpose, token)
	if err != nil {
		return Message{}, err
	}
	if _, err := tx.Exec("DELETE FROM outbox WHERE did = ? AND purpose = ?", did.String(), string(purpose)); err != nil {
		return Message{}, fmt.Errorf("use the %s token of %s: %w", purpose, did, err)
	}
	return m, nil
}

// Check is Use without spending the token (it may run in a read
// transaction).
func (o *Outbox) Check(tx *store.Tx, did syntax.DID, purpose Purpose, token string) (Message, error) {
	if strings.TrimSpace(token) == "" {
		return Message{}, errs.Invalid("a token is required: find it in Hearth's outbox (the window, or hearthd outbox list)")
	}
	m, ok, err := scanOne(tx.QueryRow(sqlSelect+" WHERE did = ? AND purpose = ?", did.String(), string(purpose)))
	if err != nil {
		return Message{}, fmt.Errorf("read the %s token of %s: %w", purpose, did, err)
	}
	if !ok || subtle.ConstantTimeCompare([]byte(m.Token), []byte(normalize(token))) != 1 {
		return Message{}, invalidToken()
	}
	if m.Expired(o.now()) {
		return Message{}, expiredToken()
	}
	return m, nil
}

// Owner finds the account a token of purpose was issued to (for
// resetPassword, whose caller names no account). A token nobody holds is
// ErrInvalidToken.
func (o *Outbox) Owner(ctx context.Context, purpose Purpose, token string) (syntax.DID, error) {
	var did string
	err := o.db.R.QueryRowContext(ctx, "SELECT did FROM outbox WHERE purpose = ? AND token = ?", string(purpose), normalize(token)).Scan(&did)
	if errors.Is(err, sql.ErrNoRows) {
		return "", invalidToken()
	}
	if err != nil {
		return "", fmt.Errorf("find the %s token: %w", purpose, err)
	}
	return syntax.DID(did), nil
}

// List returns the outbox (of one account when did is not ""), newest
// first, expired tokens included.
func (o *Outbox) List(ctx context.Context, did syntax.DID) ([]Message, error) {
	return list(ctx, o.db.R, did)
}

const sqlSelect = "SELECT did, purpose, token, COALESCE(email, ''), created_at, expires_at FROM outbox"

type scanner interface{ Scan(dest ...any) error }

func scanRow(s scanner) (Message, error) {
	var m Message
	var p string
	err := s.Scan(&m.DID, &p, &m.Token, &m.Email, &m.CreatedAt, &m.ExpiresAt)
	m.Purpose = Purpose(p)
	return m, err
}

func scanOne(row *sql.Row) (Message, bool, error) {
	m, err := scanRow(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, false, nil
	}
	return m, err == nil, err
}

func list(ctx context.Context, db *sql.DB, did syntax.DID) ([]Message, error) {
	q, args := sqlSelect, []any{}
	if did != "" {
		q += " WHERE did = ?"
		args = append(args, did.String())
	}
	rows, err := db.QueryContext(ctx, q+" ORDER BY created_at DESC, did, purpose", args...)
	if err != nil {
		return nil, fmt.Errorf("read the outbox: %w", err)
	}
	defer rows.Close()
	out := []Message{}
	for rows.Next() {
		m, err := scanRow(rows)
		if err != nil {
			return nil, fmt.Errorf("read the outbox: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the outbox: %w", err)
	}
	return out, nil
}
