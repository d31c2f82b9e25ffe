package identity

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/eventlog"
	"github.com/hearth-pds/hearth/pds/outbound"
	"github.com/hearth-pds/hearth/pds/plc"
	"github.com/hearth-pds/hearth/pds/store"
)

// Default AppView, as the reference PDS configures it.
const (
	DefaultAppViewURL = "https://api.bsky.app"
	DefaultAppViewDID = "did:web:api.bsky.app"
)

// HandleResolver resolves a handle to a DID through DNS or HTTPS.
type HandleResolver interface {
	ResolveHandle(ctx context.Context, handle string) (string, error)
}

// Config configures Identity.
type Config struct {
	PublicURL  *url.URL
	PLC        *plc.Client
	Directory  identity.Directory // resolves DIDs
	Handles    HandleResolver     // nil: handles are never checked
	AppViewURL string
	AppViewDID string // bare (did:web:api.bsky.app) or with #id
	// AllowPrivateNetwork lets proxy targets use http:// endpoints.
	AllowPrivateNetwork bool
	Logger              *slog.Logger
	// UserDomains are the handle domains offered (".test"); empty: the
	// public hostname's (see UserDomains).
	UserDomains []string
	// Links and ContactEmail are reported by describeServer.
	Links        Links
	ContactEmail string
}

// Identity is the identity component.
type Identity struct {
	db       *store.Store
	events   *eventlog.Log
	accounts *accounts.Accounts
	cfg      Config
	log      *slog.Logger

	urlMu     sync.RWMutex
	publicURL *url.URL

	plcMu   sync.Mutex // one PLC publication at a time
	handles handleCache
}

// New wires the identity component.
func New(db *store.Store, events *eventlog.Log, accts *accounts.Accounts, cfg Config) *Identity {
	return &Identity{db: db, events: events, accounts: accts, cfg: cfg, log: cfg.Logger,
		publicURL: cfg.PublicURL, handles: handleCache{m: map[string]handleCheck{}}}
}

// ParsePublicURL checks a URL the PDS can be published at.
func ParsePublicURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("no public URL configured")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("public URL %q must be http(s)://host[:port] with no path", s)
	}
	u.Path = ""
	return u, nil
}

// PublicURL is the URL the PDS is published at.
func (i *Identity) PublicURL() string {
	i.urlMu.RLock()
	defer i.urlMu.RUnlock()
	return i.publicURL.String()
}

// Hostname is the public URL's hostname (no port).
func (i *Identity) Hostname() string {
	i.urlMu.RLock()
	defer i.urlMu.RUnlock()
	return i.publicURL.Hostname()
}

// ServiceDID is the server's did:web.
func (i *Identity) ServiceDID() string { return "did:web:" + i.Hostname() }

// Directory is the DID resolver.
func (i *Identity) Directory() identity.Directory { return i.cfg.Directory }

// IsWebDID reports whether did is a did:web.
func IsWebDID(did syntax.DID) bool { return did.Method() == "web" }

// WebDIDHost checks a did:web domain: a plain hostname (no path or
// scheme) that atproto allows, and returns the DID's identifier. A port is
// allowed only on localhost, for testing (the atproto did:web rules), and
// is written percent-encoded: "localhost:2583" gives "localhost%3A2583".
func WebDIDHost(raw string) (string, error) {
	host := strings.ToLower(strings.TrimSpace(raw))
	if name, port, ok := strings.Cut(strings.ReplaceAll(host, "%3a", ":"), ":"); ok {
		if n, err := strconv.Atoi(port); name == "localhost" && err == nil && n > 0 && n < 65536 && strconv.Itoa(n) == port {
			return name + "%3A" + port, nil
		}
		return "", errs.Invalid("did:web allows a port only on localhost, for testing (got %q)", raw)
	}
	h, err := syntax.ParseHandle(host)
	if err != nil || !h.AllowedTLD() {
		return "", errs.Invalid("did:web needs a plain domain name you own, like alice.example.com (got %q)", raw)
	}
	return host, nil
}

// plc_op statements.
const (
	sqlLatestOp   = "SELECT op FROM plc_op WHERE did = ? AND published >= 0 ORDER BY id DESC LIMIT 1"
	sqlInsertOp   = "INSERT INTO plc_op(did, op, published, created_at) VALUES(?, ?, ?, ?)"
	sqlOpRefused  = "UPDATE plc_op SET published = -1, error = ? WHERE id = ?"
	sqlOpAccepted = "UPDATE plc_op SET published = 1 WHERE id = ?"
)

// latestOp reads the answer to sqlLatestOp: the newest operation that was
// not refused (ok is false when there is none: an account moving here has
// no operation of ours).
func latestOp(row *sql.Row, did syntax.DID) (op []byte, st *plc.State, ok bool, err error) {
	err = row.Scan(&op)
	if err == sql.ErrNoRows {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("latest PLC op of %s: %w", did, err)
	}
	if st, err = plc.OpState(op); err != nil {
		return nil, nil, false, fmt.Errorf("latest PLC op of %s: %w", did, err)
	}
	return op, st, true, nil
}

// StoreGenesis keeps a new account's genesis operation as pending (in tx).
func (i *Identity) StoreGenesis(tx *store.Tx, did syntax.DID, op []byte) error {
	if _, err := tx.Exec(sqlInsertOp, did.String(), op, 0, syntax.DatetimeNow().String()); err != nil {
		return fmt.Errorf("store genesis op: %w", err)
	}
	return nil
}

// QueueUpdate signs an update on top of the latest operation, changed by
// mutate, and stores it as pending (in tx).
func (i *Identity) QueueUpdate(tx *store.Tx, did syntax.DID, keys *accounts.Keys, mutate func(*plc.State)) error {
	prev, st, ok, err := latestOp(tx.QueryRow(sqlLatestOp, did.String()), did)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no PLC operation of %s to update", did)
	}
	signing, err := keys.SigningPublic()
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	mutate(st)
	// The keys keep their order of priority; Hearth's goes first only when
	// the state does not name it yet.
	op, err := plc.UpdateOp(prev, keys.Rotation, signing, st.Handle, st.PDS, st.RotationKeys)
	if err != nil {
		return fmt.Errorf("build PLC update: %w", err)
	}
	if _, err := tx.Exec(sqlInsertOp, did.String(), op, 0, syntax.DatetimeNow().String()); err != nil {
		return fmt.Errorf("queue PLC update: %w", err)
	}
	return nil
}

// did:web accounts keep the URL their document points at in a setting.
func webEndpointKey(did syntax.DID) string { return "didweb_endpoint:" + did.String() }

// SetWebEndpoint records where a did:web document points (in tx) and
// reports whether that changed.
func (i *Identity) SetWebEndpoint(tx *store.Tx, did syntax.DID, url string) (bool, error) {
	cur, _, err := tx.Setting(webEndpointKey(did))
	if err != nil {
		return false, err
	}
	if string(cur) == url {
		return false, nil
	}
	if err := tx.PutSetting(webEndpointKey(did), []byte(url)); err != nil {
		return false, fmt.Errorf("store did:web endpoint: %w", err)
	}
	return true, nil
}

// MoveTo points did's DID document at url inside tx: one signed PLC update
// (or, for a did:web, the new endpoint) and an #identity event, only when
// the document says something else. It reports whether it changed.
func (i *Identity) MoveTo(tx *store.Tx, acc *accounts.Account, url string) (bool, error) {
	if IsWebDID(acc.DID) {
		changed, err := i.SetWebEndpoint(tx, acc.DID, url)
		if err != nil || !changed {
			return false, err
		}
	} else {
		_, st, ok, err := latestOp(tx.QueryRow(sqlLatestOp, acc.DID.String()), acc.DID)
		if err != nil {
			return false, err
		}
		if !ok || st.PDS == url {
			// !ok: moving here; submitPlcOperation updates its document.
			return false, nil
		}
		if gone, err := i.MovedOut(tx, acc.DID); err != nil || gone {
			// Signed over to another PDS: never pull it back.
			return false, err
		}
		keys, err := i.accounts.Keys(tx.Context(), acc.DID)
		if err != nil {
			return false, err
		}
		if err := i.QueueUpdate(tx, acc.DID, keys, func(st *plc.State) { st.PDS = url }); err != nil {
			return false, err
		}
	}
	if _, err := i.events.Append(tx, eventlog.Identity(acc.DID, acc.Handle)); err != nil {
		return false, err
	}
	return true, nil
}

// SetPublicURL changes the URL the PDS is published at (the tunnel came up
// or moved). Accounts whose DID document points elsewhere get one signed PLC
// update each and an #identity event; nothing is submitted when the URL is
// what the documents already say. Pending operations are then published.
// It returns how many accounts were updated.
func (i *Identity) SetPublicURL(ctx context.Context, raw string) (int, error) {
	u, err := ParsePublicURL(raw)
	if err != nil {
		return 0, errs.Invalid("%v", err)
	}
	i.urlMu.Lock()
	i.publicURL = u
	i.urlMu.Unlock()
	accs, err := i.accounts.List(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, acc := range accs {
		var changed bool
		err := i.db.Write(ctx, func(tx *store.Tx) error {
			var err error
			changed, err = i.MoveTo(tx, &acc, u.String())
			return err
		})
		if err != nil {
			return n, err
		}
		if changed {
			n++
			i.log.Info("account moved to a new public URL", "did", acc.DID, "url", u.String())
		}
		i.Publish(ctx, acc.DID)
	}
	return n, nil
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
func (i *Identity) PLCStatus(ctx context.Context, did syntax.DID) (PLCStatus, error) {
	var s PLCStatus
	err := i.db.R.QueryRowContext(ctx, `SELECT COALESCE(SUM(published = 1), 0), COALESCE(SUM(published = 0), 0), COALESCE(SUM(published = -1), 0),
		COALESCE((SELECT error FROM plc_op WHERE did = ? AND published = -1 ORDER BY id DESC LIMIT 1), '')
		FROM plc_op WHERE did = ?`, did.String(), did.String()).Scan(&s.Published, &s.Pending, &s.Refused, &s.LastError)
	if err != nil {
		return s, fmt.Errorf("PLC status: %w", err)
	}
	return s, nil
}

// PublishPending submits every pending PLC operation, in order, per account.
func (i *Identity) PublishPending(ctx context.Context) {
	rows, err := i.db.R.QueryContext(ctx, "SELECT DISTINCT did FROM plc_op WHERE published = 0")
	if err != nil {
		i.log.Warn("list pending PLC operations", "err", err)
		return
	}
	var dids []syntax.DID
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			i.log.Warn("list pending PLC operations", "err", err)
			break
		}
		dids = append(dids, syntax.DID(d))
	}
	rows.Close()
	for _, d := range dids {
		i.Publish(ctx, d)
	}
}

// Publish submits one account's pending ops in order; it stops at the
// first failure (a later op chains on the earlier one). An op the directory
// refuses is marked refused and not retried: the chain needs the owner's
// attention (PLCStatus reports it).
func (i *Identity) Publish(ctx context.Context, did syntax.DID) {
	i.plcMu.Lock()
	defer i.plcMu.Unlock()
	type pending struct {
		id int64
		op []byte
	}
	var ops []pending
	err := i.db.Read(ctx, func(tx *store.Tx) error {
		var refused int
		if err := tx.QueryRow("SELECT count(*) FROM plc_op WHERE did = ? AND published = -1", did.String()).Scan(&refused); err != nil {
			return err
		}
		if refused > 0 {
			return nil
		}
		rows, err := tx.Query("SELECT id, op FROM plc_op WHERE did = ? AND published = 0 ORDER BY id", did.String())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p pending
			if err := rows.Scan(&p.id, &p.op); err != nil {
				return err
			}
			ops = append(ops, p)
		}
		return rows.Err()
	})
	if err != nil {
		i.log.Warn("read pending PLC operations", "did", did, "err", err)
		return
	}
	for _, p := range ops {
		if err := i.cfg.PLC.Submit(ctx, did.String(), p.op); err != nil {
			if errors.Is(err, plc.ErrUnreachable) {
				i.log.Info("PLC directory unreachable; identity operation stays pending", "did", did, "err", err)
				return
			}
			i.log.Warn("PLC directory refused an operation", "did", did, "err", err)
			if errors.Is(err, plc.ErrRejected) {
				i.mark(ctx, did, sqlOpRefused, err.Error(), p.id)
			}
			return
		}
		i.mark(ctx, did, sqlOpAccepted, p.id)
		i.log.Info("published PLC operation", "did", did)
	}
}

// mark records the directory's answer about an operation. If that fails,
// the operation stays pending and is submitted again later (the directory
// accepts a repeat of an operation it has).
func (i *Identity) mark(ctx context.Context, did syntax.DID, query string, args ...any) {
	err := i.db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(query, args...)
		return err
	})
	if err != nil {
		i.log.Warn("record PLC directory answer", "did", did, "err", err)
	}
}

// State is what the account's DID document says (or will say).
func (i *Identity) State(ctx context.Context, did syntax.DID) (*plc.State, error) {
	if !IsWebDID(did) {
		_, st, ok, err := latestOp(i.db.R.QueryRowContext(ctx, sqlLatestOp, did.String()), did)
		if err != nil {
			return nil, err
		}
		if !ok {
			return i.resolvedState(ctx, did) // moving here: no operation of ours yet
		}
		return st, nil
	}
	acc, err := i.accounts.Get(ctx, did)
	if err != nil {
		return nil, err
	}
	keys, err := i.accounts.Keys(ctx, did)
	if err != nil {
		return nil, err
	}
	pub, err := keys.SigningPublic()
	if err != nil {
		return nil, fmt.Errorf("signing key of %s: %w", did, err)
	}
	return &plc.State{Handle: acc.Handle.String(), PDS: i.PublicURL(), SigningKey: pub.DIDKey()}, nil
}

// resolvedState reads an account's identity from its published DID document.
func (i *Identity) resolvedState(ctx context.Context, did syntax.DID) (*plc.State, error) {
	id, err := i.cfg.Directory.LookupDID(ctx, did)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", did, err)
	}
	st := &plc.State{PDS: id.PDSEndpoint()}
	if h, err := id.DeclaredHandle(); err == nil {
		st.Handle = h.String()
	}
	if k, err := id.PublicKey(); err == nil {
		st.SigningKey = k.DIDKey()
	}
	return st, nil
}

// DIDDocument builds the account's DID document: for did:plc from its
// latest signed PLC operation (what the directory serves, or will once it
// is published); for did:web from the account and the current public URL.
func (i *Identity) DIDDocument(ctx context.Context, did syntax.DID) (map[string]any, error) {
	st, err := i.State(ctx, did)
	if err != nil {
		return nil, err
	}
	pub, err := atcrypto.ParsePublicDIDKey(st.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("signing key of %s: %w", did, err)
	}
	return map[string]any{
		"@context":    []string{"https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1", "https://w3id.org/security/suites/secp256k1-2019/v1"},
		"id":          did.String(),
		"alsoKnownAs": []string{"at://" + st.Handle},
		"verificationMethod": []map[string]any{{
			"id": did.String() + "#atproto", "type": "Multikey", "controller": did.String(), "publicKeyMultibase": pub.Multibase(),
		}},
		"service": []map[string]any{{
			"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": st.PDS,
		}},
	}, nil
}

// WebDIDDocument returns the DID document for a did:web hosted here whose
// domain is host (for /.well-known/did.json), or nil.
func (i *Identity) WebDIDDocument(ctx context.Context, host string) map[string]any {
	// A port in the Host header is part of the DID, percent-encoded.
	did, err := syntax.ParseDID("did:web:" + strings.ReplaceAll(strings.ToLower(host), ":", "%3A"))
	if err != nil {
		return nil
	}
	if _, err := i.accounts.Get(ctx, did); err != nil {
		return nil
	}
	doc, err := i.DIDDocument(ctx, did)
	if err != nil {
		return nil
	}
	return doc
}

// Info is an account's identity as its latest PLC operation says.
type Info struct {
	DID          syntax.DID
	Handle       string
	PDS          string
	SigningKey   string
	RotationKeys []string
	PLCStatus
}

// Info returns the account's signed identity state.
func (i *Identity) Info(ctx context.Context, did syntax.DID) (*Info, error) {
	st, err := i.State(ctx, did)
	if err != nil {
		return nil, err
	}
	ps, err := i.PLCStatus(ctx, did)
	if err != nil {
		return nil, err
	}
	return &Info{DID: did, Handle: st.Handle, PDS: st.PDS, SigningKey: st.SigningKey, RotationKeys: st.RotationKeys, PLCStatus: ps}, nil
}

// AddRotationKey adds the owner's own rotation key (a did:key) after
// Hearth's, so they can recover the identity without Hearth.
func (i *Identity) AddRotationKey(ctx context.Context, did syntax.DID, didKey string) error {
	if IsWebDID(did) {
		return errs.Invalid("a did:web has no rotation keys: whoever controls the domain controls the identity")
	}
	if _, err := atcrypto.ParsePublicDIDKey(didKey); err != nil {
		return errs.Invalid("not a did:key public key: %v", err)
	}
	keys, err := i.accounts.Keys(ctx, did)
	if err != nil {
		return err
	}
	err = i.db.Write(ctx, func(tx *store.Tx) error {
		return i.QueueUpdate(tx, did, keys, func(st *plc.State) {
			for _, k := range st.RotationKeys {
				if k == didKey {
					return
				}
			}
			st.RotationKeys = append(st.RotationKeys, didKey)
		})
	})
	if err != nil {
		return err
	}
	i.Publish(ctx, did)
	return nil
}

// recoveryKeySetting names the did:key of the recovery key Hearth made for
// did (only its public half is kept).
func recoveryKeySetting(did syntax.DID) string { return "recovery_key:" + did.String() }

// CreateRecoveryKey makes a new rotation key for the user to hold: its
// public half goes FIRST in the DID's rotation keys (above Hearth's, so
// within the PLC's 72-hour window it can override anything Hearth's key
// signed), in a PLC update signed by Hearth's key, and its private half is
// returned once and never stored. A key made before by this call is
// replaced. The user can then recover the identity without this machine.
func (i *Identity) CreateRecoveryKey(ctx context.Context, did syntax.DID) (privateHex, didKey string, err error) {
	if IsWebDID(did) {
		return "", "", errs.Invalid("a did:web has no rotation keys: whoever controls the domain controls the identity")
	}
	keys, err := i.accounts.Keys(ctx, did)
	if err != nil {
		return "", "", err
	}
	priv, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		return "", "", fmt.Errorf("generate a recovery key: %w", err)
	}
	pub, err := priv.PublicKey()
	if err != nil {
		return "", "", fmt.Errorf("recovery key: %w", err)
	}
	didKey = pub.DIDKey()
	err = i.db.Write(ctx, func(tx *store.Tx) error {
		old, _, err := tx.Setting(recoveryKeySetting(did))
		if err != nil {
			return err
		}
		var tooMany bool
		err = i.QueueUpdate(tx, did, keys, func(st *plc.State) {
			kept := []string{didKey}
			for _, k := range st.RotationKeys {
				if k != string(old) && k != didKey {
					kept = append(kept, k)
				}
			}
			if tooMany = len(kept) > plc.MaxRotationKeys; !tooMany {
				st.RotationKeys = kept
			}
		})
		if err != nil {
			return err
		}
		if tooMany {
			return errs.Invalid("your DID already has %d rotation keys, the most the PLC directory allows: remove one first", plc.MaxRotationKeys)
		}
		return tx.PutSetting(recoveryKeySetting(did), []byte(didKey))
	})
	if err != nil {
		return "", "", err
	}
	i.Publish(ctx, did)
	return hex.EncodeToString(priv.Bytes()), didKey, nil
}

// UserRecoveryKey returns the did:key of the recovery key made with
// CreateRecoveryKey, or "" if there is none.
func (i *Identity) UserRecoveryKey(ctx context.Context, did syntax.DID) (string, error) {
	v, _, err := i.db.GetSetting(ctx, recoveryKeySetting(did))
	return string(v), err
}

// RecoveryKey returns the account's PLC rotation key: the private key as
// hex (secp256k1) and its did:key. Whoever holds it controls the identity.
func (i *Identity) RecoveryKey(ctx context.Context, did syntax.DID) (privateHex, didKey string, err error) {
	if IsWebDID(did) {
		return "", "", errs.Invalid("a did:web has no recovery key: it is controlled by whoever controls its domain")
	}
	keys, err := i.accounts.Keys(ctx, did)
	if err != nil {
		return "", "", err
	}
	pub, err := keys.Rotation.PublicKey()
	if err != nil {
		return "", "", fmt.Errorf("rotation key of %s: %w", did, err)
	}
	return hex.EncodeToString(keys.Rotation.Bytes()), pub.DIDKey(), nil
}

// NetworkHandleResolver resolves handles over DNS TXT and HTTPS well-known,
// as the network does, with indigo's identity package.
type NetworkHandleResolver struct {
	dir identity.BaseDirectory
}

// NewNetworkHandleResolver returns a resolver using real DNS and HTTPS;
// the well-known fetch goes through pol (the host is named by whoever
// picked the handle), bounded to 3 s and 64 KiB unless pol says otherwise.
func NewNetworkHandleResolver(pol outbound.Policy) *NetworkHandleResolver {
	if pol.Timeout == 0 {
		pol.Timeout = 3 * time.Second
	}
	if pol.MaxBody == 0 {
		pol.MaxBody = 64 << 10
	}
	return &NetworkHandleResolver{dir: identity.BaseDirectory{HTTPClient: *pol.Client()}}
}

// ResolveHandle implements HandleResolver.
func (n *NetworkHandleResolver) ResolveHandle(ctx context.Context, handle string) (string, error) {
	h, err := syntax.ParseHandle(handle)
	if err != nil {
		return "", err
	}
	did, err := n.dir.ResolveHandle(ctx, h)
	return did.String(), err
}
