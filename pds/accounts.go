package pds

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/apierr"
	"github.com/hearth-pds/hearth/pds/auth"
	"github.com/hearth-pds/hearth/pds/events"
	"github.com/hearth-pds/hearth/pds/k256"
	"github.com/hearth-pds/hearth/pds/plc"
)

// Account statuses.
const (
	StatusActive      = "active"
	StatusDeactivated = "deactivated"
)

// Account is an account hosted here.
type Account struct {
	DID       string
	Handle    string
	Email     string
	Status    string
	CreatedAt string
}

// NewAccount is the input to CreateAccount.
type NewAccount struct {
	Handle     string
	Password   string
	Email      string
	InviteCode string
	// RequireInvite makes the invite code mandatory (XRPC sets it; the CLI
	// and the desktop owner do not).
	RequireInvite bool
	// DIDWeb, when set, makes the account's DID did:web:<DIDWeb> instead of
	// a did:plc: for someone who owns that domain and points it at this PDS
	// (which then serves https://<domain>/.well-known/did.json).
	DIDWeb string
	// MigratingDID, when set, creates the account for an existing DID that
	// is moving here from another PDS (the caller has checked that the DID
	// asked for it). The account starts deactivated and silent: import the
	// repo and blobs, get the DID document updated (submitPlcOperation),
	// then activate it.
	MigratingDID string
}

// CreateAccount generates the account's keys and did:plc genesis operation,
// stores everything, commits an empty repo and emits #identity, #account and
// #commit. The genesis operation is published to the PLC directory when it
// is reachable and kept pending otherwise.
func (e *Engine) CreateAccount(ctx context.Context, in NewAccount) (*Account, error) {
	handle, err := syntax.ParseHandle(strings.ToLower(strings.TrimSpace(in.Handle)))
	if err != nil {
		return nil, apierr.New(http.StatusBadRequest, "InvalidHandle", "invalid handle %q: %v", in.Handle, err)
	}
	if !handle.AllowedTLD() {
		return nil, apierr.New(http.StatusBadRequest, "UnsupportedDomain", "handle %q has a disallowed top-level domain", handle)
	}
	if len(in.Password) < 8 {
		return nil, apierr.Invalid("password must be at least 8 characters")
	}
	email := strings.TrimSpace(strings.ToLower(in.Email))
	if email != "" && !strings.Contains(email, "@") {
		return nil, apierr.New(http.StatusBadRequest, "InvalidEmail", "invalid email %q", in.Email)
	}
	if in.RequireInvite && in.InviteCode == "" {
		return nil, apierr.New(http.StatusBadRequest, "InvalidInviteCode", "this server requires an invite code: ask its owner for one")
	}
	hash, err := auth.HashPassword(in.Password)
	if err != nil {
		return nil, err
	}
	signing, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	rotation, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		return nil, fmt.Errorf("generate rotation key: %w", err)
	}
	signingPub, err := signing.PublicKey()
	if err != nil {
		return nil, err
	}
	var didStr string
	var genesis []byte
	if in.MigratingDID != "" {
		if _, err := syntax.ParseDID(in.MigratingDID); err != nil || !(strings.HasPrefix(in.MigratingDID, "did:plc:") || isWebDID(in.MigratingDID)) {
			return nil, apierr.Invalid("%q is not a did:plc or did:web", in.MigratingDID)
		}
		didStr = in.MigratingDID
	} else if in.DIDWeb != "" {
		host, err := webDIDHost(in.DIDWeb)
		if err != nil {
			return nil, err
		}
		didStr = "did:web:" + host
	} else if didStr, genesis, err = plc.GenesisOp(rotation, signingPub, handle.String(), e.PublicURL()); err != nil {
		return nil, fmt.Errorf("build did:plc genesis: %w", err)
	}
	did, err := syntax.ParseDID(didStr)
	if err != nil {
		return nil, fmt.Errorf("genesis gave an invalid DID: %w", err)
	}

	a := e.acct(did.String())
	a.mu.Lock()
	defer a.mu.Unlock()
	r := actorrepo.New(did)
	res, err := r.Apply(nil, signing, nil)
	if err != nil {
		return nil, fmt.Errorf("initial commit: %w", err)
	}
	now := nowString()
	var seqs []Change
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		if in.RequireInvite {
			if err := useInvite(ctx, tx, in.InviteCode); err != nil {
				return err
			}
		}
		var n int
		tx.QueryRowContext(ctx, "SELECT count(*) FROM account WHERE handle = ?", handle.String()).Scan(&n)
		if n > 0 {
			return apierr.New(http.StatusBadRequest, "HandleNotAvailable", "handle %s is already taken", handle)
		}
		if email != "" {
			tx.QueryRowContext(ctx, "SELECT count(*) FROM account WHERE email = ?", email).Scan(&n)
			if n > 0 {
				return apierr.New(http.StatusBadRequest, "InvalidRequest", "email %s is already in use", email)
			}
		}
		tx.QueryRowContext(ctx, "SELECT count(*) FROM account WHERE did = ?", did.String()).Scan(&n)
		if n > 0 {
			return apierr.New(http.StatusBadRequest, "InvalidRequest", "an account with %s already exists", did)
		}
		var emailArg any
		if email != "" {
			emailArg = email
		}
		status := StatusActive
		if in.MigratingDID != "" {
			status = StatusDeactivated
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO account(did, handle, email, password_hash, status, signing_key, rotation_key, created_at)
			VALUES(?, ?, ?, ?, ?, ?, ?, ?)`, did.String(), handle.String(), emailArg, hash, status, signing.Bytes(), rotation.Bytes(), now); err != nil {
			return fmt.Errorf("insert account: %w", err)
		}
		if in.MigratingDID != "" {
			// Nothing is announced until the account is activated here.
			if _, err := tx.ExecContext(ctx, "INSERT INTO setting(key, value) VALUES(?, ?)", "migrating:"+did.String(), []byte(now)); err != nil {
				return fmt.Errorf("mark migrating account: %w", err)
			}
			h := res.Head
			_, err := e.db.Exec(ctx, tx, sqlUpsertRoot, did.String(), h.CID.String(), h.Rev(), h.Commit.Data.String(), h.Bytes)
			return err
		}
		if genesis != nil {
			if _, err := tx.ExecContext(ctx, "INSERT INTO plc_op(did, op, published, created_at) VALUES(?, ?, 0, ?)", did.String(), genesis, now); err != nil {
				return fmt.Errorf("store genesis op: %w", err)
			}
		} else if err := setWebEndpoint(ctx, tx, did.String(), e.PublicURL()); err != nil {
			return err
		}
		h := handle.String()
		c, err := e.appendEvent(ctx, tx, did.String(), events.KindIdentity, func(seq int64) ([]byte, error) {
			return events.Encode(events.KindIdentity, &identityBody{Did: did.String(), Handle: &h, Seq: seq, Time: now})
		})
		if err != nil {
			return err
		}
		seqs = append(seqs, c)
		c, err = e.appendEvent(ctx, tx, did.String(), events.KindAccount, func(seq int64) ([]byte, error) {
			return events.Encode(events.KindAccount, &accountBody{Did: did.String(), Active: true, Seq: seq, Time: now})
		})
		if err != nil {
			return err
		}
		seqs = append(seqs, c)
		c, err = e.persistCommit(ctx, tx, did.String(), res)
		if err != nil {
			return err
		}
		seqs = append(seqs, c)
		return nil
	})
	if err != nil {
		e.dropAcct(did.String())
		return nil, err
	}
	a.repo = r
	for _, c := range seqs {
		e.notify.publish(c)
	}
	e.log.Info("account created", "did", did, "handle", handle, "migrating", in.MigratingDID != "")
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e.publishPLC(pctx, did.String())
	status := StatusActive
	if in.MigratingDID != "" {
		status = StatusDeactivated
	}
	return &Account{DID: did.String(), Handle: handle.String(), Email: email, Status: status, CreatedAt: now}, nil
}

func useInvite(ctx context.Context, tx *sql.Tx, code string) error {
	res, err := tx.ExecContext(ctx, "UPDATE invite_code SET uses_left = uses_left - 1 WHERE code = ? AND uses_left > 0", code)
	if err != nil {
		return fmt.Errorf("use invite code: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return apierr.New(http.StatusBadRequest, "InvalidInviteCode", "invite code not valid or already used")
	}
	return nil
}

// CreateInviteCode mints an invite code usable uses times.
func (e *Engine) CreateInviteCode(ctx context.Context, uses int) (string, error) {
	if uses < 1 {
		uses = 1
	}
	b := make([]byte, 10)
	rand.Read(b)
	s := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
	code := "hearth-" + s[:5] + "-" + s[5:10] + "-" + s[10:]
	err := e.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO invite_code(code, uses_left, created_at) VALUES(?, ?, ?)", code, uses, nowString())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("store invite code: %w", err)
	}
	return code, nil
}

type accountRow struct {
	Account
	passwordHash string
	signingKey   []byte
	rotationKey  []byte
	signer       *k256.Signer // parsed signingKey (cached rows only)
}

var errNoAccount = errors.New("no such account")

func (e *Engine) lookup(ctx context.Context, q *sql.DB, where string, arg any) (*accountRow, error) {
	byDID := where == "did = ?" && q == e.db.R
	if byDID {
		if r := e.cachedAccount(arg.(string)); r != nil {
			return r, nil
		}
	}
	var r accountRow
	var email sql.NullString
	err := q.QueryRowContext(ctx, "SELECT did, handle, email, status, created_at, password_hash, signing_key, rotation_key FROM account WHERE "+where, arg).
		Scan(&r.DID, &r.Handle, &email, &r.Status, &r.CreatedAt, &r.passwordHash, &r.signingKey, &r.rotationKey)
	if err == sql.ErrNoRows {
		return nil, errNoAccount
	}
	if err != nil {
		return nil, fmt.Errorf("look up account: %w", err)
	}
	r.Email = email.String
	if byDID {
		if k, err := k256.Parse(r.signingKey); err == nil {
			r.signer = k
		}
		e.cacheAccount(&r)
	}
	return &r, nil
}

// The account cache holds rows by DID (read-only once cached); every
// change to an account row goes through invalidateAccount.
func (e *Engine) cachedAccount(did string) *accountRow {
	e.acctCacheMu.RLock()
	defer e.acctCacheMu.RUnlock()
	return e.acctCache[did]
}

func (e *Engine) cacheAccount(r *accountRow) {
	e.acctCacheMu.Lock()
	defer e.acctCacheMu.Unlock()
	if len(e.acctCache) > 10000 {
		clear(e.acctCache)
	}
	e.acctCache[r.DID] = r
}

func (e *Engine) invalidateAccount(did string) {
	e.acctCacheMu.Lock()
	delete(e.acctCache, did)
	e.acctCacheMu.Unlock()
}

// findAccount resolves a DID, handle or email to an account row.
func (e *Engine) findAccount(ctx context.Context, ident string) (*accountRow, error) {
	ident = strings.TrimSpace(ident)
	switch {
	case strings.HasPrefix(ident, "did:"):
		return e.lookup(ctx, e.db.R, "did = ?", ident)
	case strings.Contains(ident, "@"):
		return e.lookup(ctx, e.db.R, "email = ?", strings.ToLower(ident))
	default:
		return e.lookup(ctx, e.db.R, "handle = ?", strings.ToLower(strings.TrimPrefix(ident, "@")))
	}
}

// GetAccount returns the account for a DID or handle.
func (e *Engine) GetAccount(ctx context.Context, ident string) (*Account, error) {
	r, err := e.findAccount(ctx, ident)
	if err == errNoAccount {
		return nil, apierr.New(http.StatusBadRequest, "RepoNotFound", "could not find repo for %s", ident)
	}
	if err != nil {
		return nil, err
	}
	return &r.Account, nil
}

// ListAccounts lists every account in the data dir.
func (e *Engine) ListAccounts(ctx context.Context) ([]Account, error) {
	rows, err := e.db.R.QueryContext(ctx, "SELECT did, handle, COALESCE(email, ''), status, created_at FROM account ORDER BY created_at")
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var a Account
		if err := rows.Scan(&a.DID, &a.Handle, &a.Email, &a.Status, &a.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ResolveHandle returns the DID of a handle: one hosted here, or else one
// resolved over DNS/HTTPS with the configured resolver.
func (e *Engine) ResolveHandle(ctx context.Context, handle string) (string, error) {
	h, err := syntax.ParseHandle(handle)
	if err != nil {
		return "", apierr.Invalid("invalid handle %q", handle)
	}
	r, err := e.lookup(ctx, e.db.R, "handle = ?", h.Normalize().String())
	if err == nil {
		return r.DID, nil
	}
	if err != errNoAccount {
		return "", err
	}
	if e.cfg.HandleResolver != nil {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if did, err := e.cfg.HandleResolver.ResolveHandle(rctx, h.Normalize().String()); err == nil && did != "" {
			return did, nil
		}
	}
	return "", apierr.New(http.StatusBadRequest, "HandleNotFound", "unable to resolve handle %s", handle)
}

// LocalHandleDID returns the DID of a handle hosted here ("" if none).
func (e *Engine) LocalHandleDID(ctx context.Context, handle string) string {
	r, err := e.lookup(ctx, e.db.R, "handle = ?", strings.ToLower(handle))
	if err != nil {
		return ""
	}
	return r.DID
}

func (e *Engine) signingKey(r *accountRow) (*k256.Signer, error) {
	if r.signer != nil {
		return r.signer, nil
	}
	k, err := k256.Parse(r.signingKey)
	if err != nil {
		return nil, fmt.Errorf("signing key of %s: %w", r.DID, err)
	}
	return k, nil
}

// DIDDocument builds the account's DID document: for did:plc from its
// latest signed PLC operation (what the directory serves, or will once it
// is published); for did:web from the account and the current public URL.
func (e *Engine) DIDDocument(ctx context.Context, did string) (map[string]any, error) {
	st, err := e.identityState(ctx, did)
	if err != nil {
		return nil, err
	}
	pub, err := atcrypto.ParsePublicDIDKey(st.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("signing key of %s: %w", did, err)
	}
	return map[string]any{
		"@context":    []string{"https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1", "https://w3id.org/security/suites/secp256k1-2019/v1"},
		"id":          did,
		"alsoKnownAs": []string{"at://" + st.Handle},
		"verificationMethod": []map[string]any{{
			"id": did + "#atproto", "type": "Multikey", "controller": did, "publicKeyMultibase": pub.Multibase(),
		}},
		"service": []map[string]any{{
			"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": st.PDS,
		}},
	}, nil
}

// UpdateHandle changes an account's handle, queues a PLC update and emits
// #identity.
func (e *Engine) UpdateHandle(ctx context.Context, did, handle string) error {
	h, err := syntax.ParseHandle(strings.ToLower(strings.TrimSpace(handle)))
	if err != nil {
		return apierr.New(http.StatusBadRequest, "InvalidHandle", "invalid handle %q: %v", handle, err)
	}
	if !h.AllowedTLD() {
		return apierr.New(http.StatusBadRequest, "UnsupportedDomain", "handle %q has a disallowed top-level domain", h)
	}
	r, err := e.lookup(ctx, e.db.R, "did = ?", did)
	if err != nil {
		return err
	}
	rot, err := atcrypto.ParsePrivateBytesK256(r.rotationKey)
	if err != nil {
		return fmt.Errorf("rotation key: %w", err)
	}
	sk, err := e.signingKey(r)
	if err != nil {
		return err
	}
	pub, _ := sk.PublicKey()
	var change Change
	e.invalidateAccount(did)
	defer e.invalidateAccount(did)
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		var owner string
		err := tx.QueryRowContext(ctx, "SELECT did FROM account WHERE handle = ?", h.String()).Scan(&owner)
		if err == nil && owner != did {
			return apierr.New(http.StatusBadRequest, "HandleNotAvailable", "handle %s is already taken", h)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE account SET handle = ? WHERE did = ?", h.String(), did); err != nil {
			return fmt.Errorf("update handle: %w", err)
		}
		if !isWebDID(did) {
			if err := e.queuePLCUpdate(ctx, tx, did, rot, pub, func(st *plc.State) { st.Handle = h.String() }); err != nil {
				return err
			}
		}
		now := nowString()
		hs := h.String()
		change, err = e.appendEvent(ctx, tx, did, events.KindIdentity, func(seq int64) ([]byte, error) {
			return events.Encode(events.KindIdentity, &identityBody{Did: did, Handle: &hs, Seq: seq, Time: now})
		})
		return err
	})
	if err != nil {
		return err
	}
	e.notify.publish(change)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e.publishPLC(pctx, did)
	return nil
}

// PLCStatus says how many of an account's PLC operations are published,
// pending, or refused by the directory (with the last refusal's reason).
type PLCStatus struct {
	Published int
	Pending   int
	Refused   int
	LastError string
}

// PLCStatus reports whether the account's identity is published.
func (e *Engine) PLCStatus(ctx context.Context, did string) (PLCStatus, error) {
	var s PLCStatus
	err := e.db.R.QueryRowContext(ctx, `SELECT COALESCE(SUM(published = 1), 0), COALESCE(SUM(published = 0), 0), COALESCE(SUM(published = -1), 0),
		COALESCE((SELECT error FROM plc_op WHERE did = ? AND published = -1 ORDER BY id DESC LIMIT 1), '')
		FROM plc_op WHERE did = ?`, did, did).Scan(&s.Published, &s.Pending, &s.Refused, &s.LastError)
	if err != nil {
		return s, fmt.Errorf("PLC status: %w", err)
	}
	return s, nil
}

// PublishPendingPLC submits every pending PLC operation, in order, per account.
func (e *Engine) PublishPendingPLC(ctx context.Context) {
	rows, err := e.db.R.QueryContext(ctx, "SELECT DISTINCT did FROM plc_op WHERE published = 0")
	if err != nil {
		e.log.Warn("list pending PLC operations", "err", err)
		return
	}
	var dids []string
	for rows.Next() {
		var d string
		rows.Scan(&d)
		dids = append(dids, d)
	}
	rows.Close()
	for _, d := range dids {
		e.publishPLC(ctx, d)
	}
}

// publishPLC submits one account's pending ops in order; it stops at the
// first failure (a later op chains on the earlier one). An op the directory
// refuses is marked refused and not retried: the chain needs the owner's
// attention (PLCStatus reports it).
func (e *Engine) publishPLC(ctx context.Context, did string) {
	e.plcMu.Lock()
	defer e.plcMu.Unlock()
	var refused int
	e.db.R.QueryRowContext(ctx, "SELECT count(*) FROM plc_op WHERE did = ? AND published = -1", did).Scan(&refused)
	if refused > 0 {
		return
	}
	rows, err := e.db.R.QueryContext(ctx, "SELECT id, op FROM plc_op WHERE did = ? AND published = 0 ORDER BY id", did)
	if err != nil {
		return
	}
	type pending struct {
		id int64
		op []byte
	}
	var ops []pending
	for rows.Next() {
		var p pending
		rows.Scan(&p.id, &p.op)
		ops = append(ops, p)
	}
	rows.Close()
	for _, p := range ops {
		if err := e.plc.Submit(ctx, did, p.op); err != nil {
			if errors.Is(err, plc.ErrUnreachable) {
				e.log.Info("PLC directory unreachable; identity operation stays pending", "did", did, "err", err)
			} else {
				e.log.Warn("PLC directory refused an operation", "did", did, "err", err)
				if errors.Is(err, plc.ErrRejected) {
					e.db.Write(ctx, func(tx *sql.Tx) error {
						_, err := tx.ExecContext(ctx, "UPDATE plc_op SET published = -1, error = ? WHERE id = ?", err.Error(), p.id)
						return err
					})
				}
			}
			return
		}
		e.db.Write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE plc_op SET published = 1 WHERE id = ?", p.id)
			return err
		})
		e.log.Info("published PLC operation", "did", did)
	}
}

// SetActive deactivates (active=false) or reactivates an account and emits
// #account. A deactivated account keeps its data, refuses writes and is not
// served by sync endpoints.
func (e *Engine) SetActive(ctx context.Context, did string, active bool) error {
	status := StatusActive
	if !active {
		status = StatusDeactivated
	}
	var change Change
	var extra []Change
	e.invalidateAccount(did)
	defer e.invalidateAccount(did)
	err := e.db.Write(ctx, func(tx *sql.Tx) error {
		var cur string
		if err := tx.QueryRowContext(ctx, "SELECT status FROM account WHERE did = ?", did).Scan(&cur); err != nil {
			if err == sql.ErrNoRows {
				return apierr.New(http.StatusBadRequest, "RepoNotFound", "could not find account %s", did)
			}
			return fmt.Errorf("read account status: %w", err)
		}
		if cur == status {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE account SET status = ? WHERE did = ?", status, did); err != nil {
			return fmt.Errorf("update account status: %w", err)
		}
		now := nowString()
		var err error
		if active {
			if extra, err = e.announceMigrated(ctx, tx, did, now); err != nil {
				return err
			}
		}
		change, err = e.appendEvent(ctx, tx, did, events.KindAccount, func(seq int64) ([]byte, error) {
			body := &accountBody{Did: did, Active: active, Seq: seq, Time: now}
			if !active {
				s := status
				body.Status = &s
			}
			return events.Encode(events.KindAccount, body)
		})
		return err
	})
	if err != nil {
		return err
	}
	for _, c := range extra {
		e.notify.publish(c)
	}
	if change.Seq != 0 {
		e.notify.publish(change)
	}
	return nil
}

// DeleteAccount removes an account and everything it stored (records,
// blobs, sessions, app passwords, preferences) and emits #account with
// status "deleted". The password must be the account password.
func (e *Engine) DeleteAccount(ctx context.Context, did, password string) error {
	r, err := e.lookup(ctx, e.db.R, "did = ?", did)
	if err == errNoAccount {
		return apierr.New(http.StatusBadRequest, "RepoNotFound", "could not find account %s", did)
	}
	if err != nil {
		return err
	}
	if !auth.CheckPassword(r.passwordHash, password) {
		return apierr.New(http.StatusUnauthorized, "AuthenticationRequired", "Invalid password")
	}
	a := e.acct(did)
	a.mu.Lock()
	defer a.mu.Unlock()
	e.invalidateAccount(did)
	defer e.invalidateAccount(did)
	var change Change
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			"DELETE FROM record WHERE did = ?", "DELETE FROM record_blob WHERE did = ?", "DELETE FROM blob WHERE did = ?",
			"DELETE FROM refresh_token WHERE did = ?", "DELETE FROM app_password WHERE did = ?", "DELETE FROM preference WHERE did = ?",
			"DELETE FROM repo_root WHERE did = ?", "DELETE FROM account WHERE did = ?",
		} {
			if _, err := tx.ExecContext(ctx, q, did); err != nil {
				return fmt.Errorf("delete account data: %w", err)
			}
		}
		now := nowString()
		status := "deleted"
		var err error
		change, err = e.appendEvent(ctx, tx, did, events.KindAccount, func(seq int64) ([]byte, error) {
			return events.Encode(events.KindAccount, &accountBody{Did: did, Active: false, Status: &status, Seq: seq, Time: now})
		})
		return err
	})
	if err != nil {
		return err
	}
	a.repo = nil
	e.dropAcct(did)
	if err := e.blobs.DeleteAll(did); err != nil {
		e.log.Warn("delete blob files", "did", did, "err", err)
	}
	e.notify.publish(change)
	e.log.Info("account deleted", "did", did)
	return nil
}
