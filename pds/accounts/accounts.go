package accounts

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/auth"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/k256"
	"github.com/hearth-pds/hearth/pds/secrets"
	"github.com/hearth-pds/hearth/pds/store"
)

// Account statuses.
const (
	StatusActive      = "active"
	StatusDeactivated = "deactivated"
)

// Account is an account hosted here.
type Account struct {
	DID       syntax.DID
	Handle    syntax.Handle
	Email     string
	Status    string
	CreatedAt string
}

// Active reports whether the account may write.
func (a *Account) Active() bool { return a.Status == StatusActive }

// Keys are an account's private keys: the repo signing key and the PLC
// rotation key Hearth holds for it.
type Keys struct {
	Signing  *k256.Signer
	Rotation *atcrypto.PrivateKeyK256
}

// SigningPublic is the signing key's public half.
func (k *Keys) SigningPublic() (atcrypto.PublicKey, error) { return k.Signing.PublicKey() }

// Config configures Accounts.
type Config struct {
	ServiceDID string // aud of session tokens
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	// RefreshGrace is how long a rotated refresh token still works (a
	// client's retry after a lost response).
	RefreshGrace time.Duration
	// Box seals the private keys and the session secret at rest.
	Box *secrets.Box
	// Throttle is the login throttle's policy (auth.DefaultThrottlePolicy
	// when zero).
	Throttle auth.ThrottlePolicy
	// Hasher runs every argon2 hash (auth.NewHasher(auth.DefaultHashSlots(),
	// 32) when nil).
	Hasher *auth.Hasher
	// Now is the throttle's clock (time.Now when nil).
	Now func() time.Time
}

// Accounts is the account component.
type Accounts struct {
	db       *store.Store
	cfg      Config
	tokens   *auth.Issuer
	throttle *auth.Throttle
	hasher   *auth.Hasher
	// appKey keys the lookup hashes of app passwords (derived from the
	// session secret).
	appKey []byte

	cacheMu sync.RWMutex
	cache   map[syntax.DID]*row // by DID; rows are read-only once cached
}

// row is an account with its secrets. keys is parsed only for rows looked
// up by DID (those that are cached); a lookup by handle or email for a
// login or a repo parameter does not pay for parsing two private keys.
type row struct {
	Account
	passwordHash string
	signingRaw   []byte
	rotationRaw  []byte
	keys         *Keys
}

// Labels bind each sealed value to its place (secrets.Box.Seal).
func signingLabel(did string) string  { return "account:" + did + ":signing_key" }
func rotationLabel(did string) string { return "account:" + did + ":rotation_key" }

const settingJWTSecret = "jwt_secret"

// reveal opens a sealed stored secret; a plain one (stored before secrets
// were sealed, and not yet migrated) is returned as it is.
func reveal(box *secrets.Box, stored []byte, label string) ([]byte, error) {
	if !secrets.IsSealed(stored) {
		return stored, nil
	}
	plain, err := box.Open(stored, label)
	if err != nil {
		return nil, errs.Wrap(errs.ErrDataDamaged, err,
			"%s cannot be decrypted with the data key (%s): the key is not the one it was sealed with, or the value is damaged; restore the data folder (with its keys/ folder) from a backup", label, box.Where)
	}
	return plain, nil
}

func (a *Accounts) parseKeys(r *row) error {
	sraw, err := reveal(a.cfg.Box, r.signingRaw, signingLabel(r.DID.String()))
	if err != nil {
		return err
	}
	sk, err := k256.Parse(sraw)
	if err != nil {
		return fmt.Errorf("signing key of %s: %w", r.DID, err)
	}
	rraw, err := reveal(a.cfg.Box, r.rotationRaw, rotationLabel(r.DID.String()))
	if err != nil {
		return err
	}
	rk, err := atcrypto.ParsePrivateBytesK256(rraw)
	if err != nil {
		return fmt.Errorf("rotation key of %s: %w", r.DID, err)
	}
	r.keys = &Keys{Signing: sk, Rotation: rk}
	return nil
}

// Open seals any secret still stored plain (a folder from before secrets
// were sealed) and loads, creating on first use, the session-signing
// secret.
func Open(ctx context.Context, db *store.Store, cfg Config) (*Accounts, error) {
	if cfg.Box == nil {
		return nil, fmt.Errorf("accounts: no data key (Config.Box)")
	}
	if err := sealPlain(ctx, db, cfg.Box); err != nil {
		return nil, err
	}
	stored, ok, err := db.GetSetting(ctx, settingJWTSecret)
	if err != nil {
		return nil, err
	}
	var secret []byte
	if ok {
		if secret, err = reveal(cfg.Box, stored, settingJWTSecret); err != nil {
			return nil, err
		}
	} else {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("make session secret: %w", err)
		}
		sealed, err := cfg.Box.Seal(secret, settingJWTSecret)
		if err != nil {
			return nil, err
		}
		if err := db.PutSetting(ctx, settingJWTSecret, sealed); err != nil {
			return nil, err
		}
	}
	policy := cfg.Throttle
	if policy == (auth.ThrottlePolicy{}) {
		policy = auth.DefaultThrottlePolicy
	}
	hasher := cfg.Hasher
	if hasher == nil {
		hasher = auth.NewHasher(auth.DefaultHashSlots(), 32)
	}
	return &Accounts{
		db:       db,
		cfg:      cfg,
		tokens:   &auth.Issuer{Secret: secret, ServiceDID: cfg.ServiceDID, AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.RefreshTTL},
		throttle: &auth.Throttle{Policy: policy, Store: failureStore{db}, Now: cfg.Now},
		hasher:   hasher,
		appKey:   auth.DeriveKey(secret, "app-password-lookup"),
		cache:    map[syntax.DID]*row{},
	}, nil
}

const sqlAccountColumns = "SELECT did, handle, email, status, created_at, password_hash, signing_key, rotation_key FROM account WHERE "

func (a *Accounts) query(ctx context.Context, where string, arg any) (*row, error) {
	var r row
	var did, handle string
	var email sql.NullString
	err := a.db.R.QueryRowContext(ctx, sqlAccountColumns+where, arg).
		Scan(&did, &handle, &email, &r.Status, &r.CreatedAt, &r.passwordHash, &r.signingRaw, &r.rotationRaw)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up account: %w", err)
	}
	r.DID, r.Handle, r.Email = syntax.DID(did), syntax.Handle(handle), email.String
	return &r, nil
}

// byDID returns the account row (nil if there is none), from the cache
// when it can.
func (a *Accounts) byDID(ctx context.Context, did syntax.DID) (*row, error) {
	a.cacheMu.RLock()
	r := a.cache[did]
	a.cacheMu.RUnlock()
	if r != nil {
		return r, nil
	}
	r, err := a.query(ctx, "did = ?", did.String())
	if err != nil || r == nil {
		return nil, err
	}
	if err := a.parseKeys(r); err != nil {
		return nil, err
	}
	a.cacheMu.Lock()
	if len(a.cache) > 10000 {
		clear(a.cache)
	}
	a.cache[did] = r
	a.cacheMu.Unlock()
	return r, nil
}

// invalidate drops did's cached row now and again when tx commits (a read
// between the two could cache the old row).
func (a *Accounts) invalidate(tx *store.Tx, did syntax.DID) {
	drop := func() {
		a.cacheMu.Lock()
		delete(a.cache, did)
		a.cacheMu.Unlock()
	}
	drop()
	tx.OnCommit(drop)
}

// find resolves a login identifier to an account row (nil if none): a
// DID; "@handle" or a handle; or an email address (only when it is not a
// DID and does not start with "@").
func (a *Accounts) find(ctx context.Context, ident string) (*row, error) {
	ident = strings.TrimSpace(ident)
	if did, err := syntax.ParseDID(ident); err == nil {
		return a.byDID(ctx, did)
	}
	if strings.HasPrefix(ident, "did:") {
		return nil, nil
	}
	if h, ok := strings.CutPrefix(ident, "@"); ok {
		return a.byHandle(ctx, h)
	}
	if strings.Contains(ident, "@") {
		return a.query(ctx, "email = ?", strings.ToLower(ident))
	}
	return a.byHandle(ctx, ident)
}

func (a *Accounts) byHandle(ctx context.Context, raw string) (*row, error) {
	h, err := syntax.ParseHandle(raw)
	if err != nil {
		return nil, nil
	}
	return a.query(ctx, "handle = ?", h.Normalize().String())
}

// Get returns the account of did, or an errs.ErrRepoNotFound.
func (a *Accounts) Get(ctx context.Context, did syntax.DID) (*Account, error) {
	r, err := a.byDID(ctx, did)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errs.RepoNotFound(did.String())
	}
	acc := r.Account
	return &acc, nil
}

// Lookup returns the account of a DID or handle, or an
// errs.ErrRepoNotFound.
func (a *Accounts) Lookup(ctx context.Context, id syntax.AtIdentifier) (*Account, error) {
	if did, err := id.AsDID(); err == nil {
		return a.Get(ctx, did)
	}
	h, _ := id.AsHandle()
	r, err := a.query(ctx, "handle = ?", h.Normalize().String())
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errs.RepoNotFound(id.String())
	}
	acc := r.Account
	return &acc, nil
}

// HandleDID returns the DID of a handle hosted here (ok is false if none).
func (a *Accounts) HandleDID(ctx context.Context, h syntax.Handle) (did syntax.DID, ok bool, err error) {
	r, err := a.query(ctx, "handle = ?", h.Normalize().String())
	if err != nil || r == nil {
		return "", false, err
	}
	return r.DID, true, nil
}

// Keys returns did's private keys, or an errs.ErrRepoNotFound.
func (a *Accounts) Keys(ctx context.Context, did syntax.DID) (*Keys, error) {
	r, err := a.byDID(ctx, did)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errs.RepoNotFound(did.String())
	}
	return r.keys, nil
}

// List lists every account, oldest first.
func (a *Accounts) List(ctx context.Context) ([]Account, error) {
	rows, err := a.db.R.QueryContext(ctx, "SELECT did, handle, COALESCE(email, ''), status, created_at FROM account ORDER BY created_at")
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var acc Account
		var did, handle string
		if err := rows.Scan(&did, &handle, &acc.Email, &acc.Status, &acc.CreatedAt); err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		acc.DID, acc.Handle = syntax.DID(did), syntax.Handle(handle)
		out = append(out, acc)
	}
	return out, rows.Err()
}

// ParseNewHandle checks a handle someone wants: valid syntax, lower case,
// an allowed top-level domain.
func ParseNewHandle(raw string) (syntax.Handle, error) {
	h, err := syntax.ParseHandle(strings.ToLower(strings.TrimSpace(raw)))
	if err != nil {
		return "", errs.New(errs.ErrInvalidHandle, "invalid handle %q: %v", raw, err)
	}
	if !h.AllowedTLD() {
		return "", errs.New(errs.ErrUnsupportedDomain, "handle %q has a disallowed top-level domain", h)
	}
	return h, nil
}

// New is a new account row.
type New struct {
	DID          syntax.DID
	Handle       syntax.Handle
	Email        string // "" for none
	PasswordHash string
	Status       string
	Keys         Keys
	CreatedAt    string
}

// Insert adds an account in tx, refusing a handle, email or DID already
// in use.
func (a *Accounts) Insert(tx *store.Tx, n New) error {
	var count int
	if err := tx.QueryRow("SELECT count(*) FROM account WHERE handle = ?", n.Handle.String()).Scan(&count); err != nil {
		return fmt.Errorf("check handle: %w", err)
	}
	if count > 0 {
		return errs.New(errs.ErrHandleNotAvailable, "handle %s is already taken", n.Handle)
	}
	if n.Email != "" {
		if err := tx.QueryRow("SELECT count(*) FROM account WHERE email = ?", n.Email).Scan(&count); err != nil {
			return fmt.Errorf("check email: %w", err)
		}
		if count > 0 {
			return errs.Invalid("email %s is already in use", n.Email)
		}
	}
	if err := tx.QueryRow("SELECT count(*) FROM account WHERE did = ?", n.DID.String()).Scan(&count); err != nil {
		return fmt.Errorf("check DID: %w", err)
	}
	if count > 0 {
		return errs.Invalid("an account with %s already exists", n.DID)
	}
	var email any
	if n.Email != "" {
		email = n.Email
	}
	signing, err := a.cfg.Box.Seal(n.Keys.Signing.Bytes(), signingLabel(n.DID.String()))
	if err != nil {
		return err
	}
	rotation, err := a.cfg.Box.Seal(n.Keys.Rotation.Bytes(), rotationLabel(n.DID.String()))
	if err != nil {
		return err
	}
	if _, err := tx.Exec(`INSERT INTO account(did, handle, email, password_hash, status, signing_key, rotation_key, created_at)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?)`, n.DID.String(), n.Handle.String(), email, n.PasswordHash, n.Status,
		signing, rotation, n.CreatedAt); err != nil {
		return fmt.Errorf("insert account: %w", err)
	}
	a.invalidate(tx, n.DID)
	return nil
}

// SetHandle changes did's handle in tx, refusing one another account has.
func (a *Accounts) SetHandle(tx *store.Tx, did syntax.DID, h syntax.Handle) error {
	var owner string
	err := tx.QueryRow("SELECT did FROM account WHERE handle = ?", h.String()).Scan(&owner)
	if err != nil && err != sql.ErrNoRows {
		return fmt.Errorf("check handle: %w", err)
	}
	if err == nil && owner != did.String() {
		return errs.New(errs.ErrHandleNotAvailable, "handle %s is already taken", h)
	}
	if _, err := tx.Exec("UPDATE account SET handle = ? WHERE did = ?", h.String(), did.String()); err != nil {
		return fmt.Errorf("update handle: %w", err)
	}
	a.invalidate(tx, did)
	return nil
}

// SetStatus changes did's status in tx and reports whether it changed.
func (a *Accounts) SetStatus(tx *store.Tx, did syntax.DID, status string) (bool, error) {
	var cur string
	if err := tx.QueryRow("SELECT status FROM account WHERE did = ?", did.String()).Scan(&cur); err != nil {
		if err == sql.ErrNoRows {
			return false, errs.RepoNotFound(did.String())
		}
		return false, fmt.Errorf("read account status: %w", err)
	}
	if cur == status {
		return false, nil
	}
	if _, err := tx.Exec("UPDATE account SET status = ? WHERE did = ?", status, did.String()); err != nil {
		return false, fmt.Errorf("update account status: %w", err)
	}
	a.invalidate(tx, did)
	return true, nil
}

// Delete removes did's account row, sessions, app passwords, preferences
// and migration marker in tx.
func (a *Accounts) Delete(tx *store.Tx, did syntax.DID) error {
	for _, q := range []string{
		"DELETE FROM refresh_token WHERE did = ?", "DELETE FROM app_password WHERE did = ?",
		"DELETE FROM preference WHERE did = ?", "DELETE FROM account WHERE did = ?",
	} {
		if _, err := tx.Exec(q, did.String()); err != nil {
			return fmt.Errorf("delete account data: %w", err)
		}
	}
	if _, err := tx.DeleteSetting(migratingKey(did)); err != nil {
		return err
	}
	a.invalidate(tx, did)
	return nil
}

// HashPassword hashes a new account password under the hashing limit.
func (a *Accounts) HashPassword(ctx context.Context, pw string) (string, error) {
	h, err := a.hasher.Hash(ctx, pw)
	if err != nil {
		return "", hashError(err)
	}
	return h, nil
}

// CheckPassword checks did's account password (not app passwords) for a
// caller at address from, under the login throttle (see Login).
func (a *Accounts) CheckPassword(ctx context.Context, did syntax.DID, password, from string) error {
	if err := a.throttled(ctx, "", from); err != nil {
		return err
	}
	r, err := a.byDID(ctx, did)
	if err != nil {
		return err
	}
	account := ""
	if r != nil {
		account = r.DID.String()
		if err := a.throttled(ctx, account, from); err != nil {
			return err
		}
	}
	hash := dummyHash
	if r != nil {
		hash = r.passwordHash
	}
	ok, err := a.hasher.Check(ctx, hash, password)
	if err != nil {
		return hashError(err)
	}
	if !ok || r == nil {
		if err := a.throttle.Fail(ctx, account, from); err != nil {
			return err
		}
		if r == nil {
			return errs.RepoNotFound(did.String())
		}
		return errs.New(errs.ErrAuthRequired, "Invalid password")
	}
	return a.throttle.Succeed(ctx, account, from)
}

// An account that is moving here from another PDS is marked until it is
// activated: nothing about it is announced before then.
func migratingKey(did syntax.DID) string { return "migrating:" + did.String() }

// MarkMigrating marks did as moving in (in tx).
func (a *Accounts) MarkMigrating(tx *store.Tx, did syntax.DID, since string) error {
	return tx.PutSetting(migratingKey(did), []byte(since))
}

// Migrating reports whether did is still moving in.
func (a *Accounts) Migrating(tx *store.Tx, did syntax.DID) (bool, error) {
	_, ok, err := tx.Setting(migratingKey(did))
	return ok, err
}

// ClearMigrating ends did's move-in and reports whether it was moving in.
func (a *Accounts) ClearMigrating(tx *store.Tx, did syntax.DID) (bool, error) {
	return tx.DeleteSetting(migratingKey(did))
}

// UseInvite spends one use of an invite code in tx.
func (a *Accounts) UseInvite(tx *store.Tx, code string) error {
	res, err := tx.Exec("UPDATE invite_code SET uses_left = uses_left - 1 WHERE code = ? AND uses_left > 0", code)
	if err != nil {
		return fmt.Errorf("use invite code: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errs.New(errs.ErrInvalidInviteCode, "invite code not valid or already used")
	}
	return nil
}

// CreateInviteCode mints an invite code usable uses times.
func (a *Accounts) CreateInviteCode(ctx context.Context, uses int) (string, error) {
	if uses < 1 {
		uses = 1
	}
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make invite code: %w", err)
	}
	s := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
	code := "hearth-" + s[:5] + "-" + s[5:10] + "-" + s[10:]
	err := a.db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec("INSERT INTO invite_code(code, uses_left, created_at) VALUES(?, ?, ?)", code, uses, syntax.DatetimeNow().String())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("store invite code: %w", err)
	}
	return code, nil
}
