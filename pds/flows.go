package pds

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/eventlog"
	hid "github.com/hearth-pds/hearth/pds/identity"
	"github.com/hearth-pds/hearth/pds/k256"
	"github.com/hearth-pds/hearth/pds/plc"
	"github.com/hearth-pds/hearth/pds/store"
)

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
	MigratingDID syntax.DID
}

// CreateAccount generates the account's keys and did:plc genesis operation,
// stores everything, commits an empty repo and emits #identity, #account and
// #commit, all in one transaction. The genesis operation is published to the
// PLC directory when it is reachable and kept pending otherwise.
func (e *Engine) CreateAccount(ctx context.Context, in NewAccount) (*accounts.Account, error) {
	handle, err := accounts.ParseNewHandle(in.Handle)
	if err != nil {
		return nil, err
	}
	if len(in.Password) < 8 {
		return nil, errs.Invalid("password must be at least 8 characters")
	}
	email := strings.TrimSpace(strings.ToLower(in.Email))
	if email != "" && !strings.Contains(email, "@") {
		return nil, errs.New(errs.ErrInvalidEmail, "invalid email %q", in.Email)
	}
	if in.RequireInvite && in.InviteCode == "" {
		return nil, errs.New(errs.ErrInvalidInviteCode, "this server requires an invite code: ask its owner for one")
	}
	hash, err := e.Accounts.HashPassword(ctx, in.Password)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	signingKey, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	rotation, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		return nil, fmt.Errorf("generate rotation key: %w", err)
	}
	keys := accounts.Keys{Signing: k256.New(signingKey), Rotation: rotation}
	signingPub, err := signingKey.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	var did syntax.DID
	var genesis []byte
	migrating := in.MigratingDID != ""
	switch {
	case migrating:
		if m := in.MigratingDID.Method(); m != "plc" && m != "web" {
			return nil, errs.Invalid("%q is not a did:plc or did:web", in.MigratingDID)
		}
		did = in.MigratingDID
	case in.DIDWeb != "":
		host, err := hid.WebDIDHost(in.DIDWeb)
		if err != nil {
			return nil, err
		}
		if did, err = syntax.ParseDID("did:web:" + host); err != nil {
			return nil, errs.Invalid("did:web:%s is not a valid DID", host)
		}
	default:
		s, op, err := plc.GenesisOp(rotation, signingPub, handle.String(), e.Identity.PublicURL())
		if err != nil {
			return nil, fmt.Errorf("build did:plc genesis: %w", err)
		}
		if did, err = syntax.ParseDID(s); err != nil {
			return nil, fmt.Errorf("genesis gave an invalid DID: %w", err)
		}
		genesis = op
	}

	unlock := e.Repos.Lock(did)
	defer unlock()
	repo := actorrepo.New(did)
	res, err := repo.Apply(nil, keys.Signing, nil)
	if err != nil {
		return nil, fmt.Errorf("initial commit: %w", err)
	}
	status := accounts.StatusActive
	if migrating {
		status = accounts.StatusDeactivated
	}
	now := syntax.DatetimeNow().String()
	err = e.db.Write(ctx, func(tx *store.Tx) error {
		if in.RequireInvite {
			if err := e.Accounts.UseInvite(tx, in.InviteCode); err != nil {
				return err
			}
		}
		if err := e.Accounts.Insert(tx, accounts.New{DID: did, Handle: handle, Email: email, PasswordHash: hash,
			Status: status, Keys: keys, CreatedAt: now}); err != nil {
			return err
		}
		if migrating {
			// Nothing is announced until the account is activated here.
			if err := e.Accounts.MarkMigrating(tx, did, now); err != nil {
				return err
			}
			return e.Repos.Init(tx, repo, res, false)
		}
		if genesis != nil {
			if err := e.Identity.StoreGenesis(tx, did, genesis); err != nil {
				return err
			}
		} else if _, err := e.Identity.SetWebEndpoint(tx, did, e.Identity.PublicURL()); err != nil {
			return err
		}
		if _, err := e.Events.Append(tx, eventlog.Identity(did, handle)); err != nil {
			return err
		}
		if _, err := e.Events.Append(tx, eventlog.Account(did, true, "")); err != nil {
			return err
		}
		if err := e.Repos.Init(tx, repo, res, true); err != nil {
			return err
		}
		// As the reference PDS: #identity, #account, #commit, then a #sync
		// of the genesis commit.
		head, err := e.Repos.HeadIn(tx, did)
		if err != nil {
			return err
		}
		_, err = e.Events.Append(tx, eventlog.Sync(did, head))
		return err
	})
	if err != nil {
		return nil, err
	}
	e.log.Info("account created", "did", did, "handle", handle, "migrating", migrating)
	e.noteAccounts(ctx)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e.Identity.Publish(pctx, did)
	return &accounts.Account{DID: did, Handle: handle, Email: email, Status: status, CreatedAt: now}, nil
}

// UpdateHandle changes an account's handle, queues a PLC update and emits
// #identity.
func (e *Engine) UpdateHandle(ctx context.Context, did syntax.DID, raw string) error {
	h, err := accounts.ParseNewHandle(raw)
	if err != nil {
		return err
	}
	keys, err := e.Accounts.Keys(ctx, did)
	if err != nil {
		return err
	}
	err = e.db.Write(ctx, func(tx *store.Tx) error {
		if err := e.Accounts.SetHandle(tx, did, h); err != nil {
			return err
		}
		if !hid.IsWebDID(did) {
			if err := e.Identity.QueueUpdate(tx, did, keys, func(st *plc.State) { st.Handle = h.String() }); err != nil {
				return err
			}
		}
		_, err := e.Events.Append(tx, eventlog.Identity(did, h))
		return err
	})
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e.Identity.Publish(pctx, did)
	return nil
}

// SetActive deactivates (active=false) or reactivates an account. A
// deactivated account keeps its data, refuses writes and is not served by
// sync endpoints. Deactivating emits #account; activating emits what the
// reference PDS emits — #account, #identity (the handle) and a #sync of the
// current commit — so relays pick the account up again (and pick up an
// account that moved here, announced for the first time).
func (e *Engine) SetActive(ctx context.Context, did syntax.DID, active bool) error {
	status := accounts.StatusActive
	if !active {
		status = accounts.StatusDeactivated
	}
	return e.db.Write(ctx, func(tx *store.Tx) error {
		changed, err := e.Accounts.SetStatus(tx, did, status)
		if err != nil || !changed {
			return err
		}
		if !active {
			_, err = e.Events.Append(tx, eventlog.Account(did, false, status))
			return err
		}
		// Active here again: a move out was abandoned.
		if err := e.Identity.ClearMovedOut(tx, did); err != nil {
			return err
		}
		return e.announceActive(tx, did)
	})
}

// announceActive emits, in tx, the events of an account (re)activated here.
func (e *Engine) announceActive(tx *store.Tx, did syntax.DID) error {
	if _, err := e.Accounts.ClearMigrating(tx, did); err != nil {
		return err
	}
	acc, err := e.Accounts.Get(tx.Context(), did)
	if err != nil {
		return err
	}
	head, err := e.Repos.HeadIn(tx, did)
	if err != nil {
		return err
	}
	if _, err := e.Events.Append(tx, eventlog.Account(did, true, "")); err != nil {
		return err
	}
	if _, err := e.Events.Append(tx, eventlog.Identity(did, acc.Handle)); err != nil {
		return err
	}
	_, err = e.Events.Append(tx, eventlog.Sync(did, head))
	return err
}

// DeleteAccount removes an account and everything it stored (records,
// blobs, sessions, app passwords, preferences) and emits #account with
// status "deleted". The password must be the account password; the check
// shares the login throttle (from is the client's address).
func (e *Engine) DeleteAccount(ctx context.Context, did syntax.DID, password, from string) error {
	if err := e.Accounts.CheckPassword(ctx, did, password, from); err != nil {
		return err
	}
	return e.deleteAccount(ctx, did, nil)
}

// deleteAccount deletes did after before (when not nil) passes in the same
// transaction.
func (e *Engine) deleteAccount(ctx context.Context, did syntax.DID, before func(tx *store.Tx) error) error {
	unlock := e.Repos.Lock(did)
	defer unlock()
	err := e.db.Write(ctx, func(tx *store.Tx) error {
		if before != nil {
			if err := before(tx); err != nil {
				return err
			}
		}
		if err := e.Repos.Delete(tx, did); err != nil {
			return err
		}
		if err := e.Blobs.DeleteAccount(tx, did); err != nil {
			return err
		}
		if err := e.Accounts.Delete(tx, did); err != nil {
			return err
		}
		_, err := e.Events.Append(tx, eventlog.Account(did, false, "deleted"))
		return err
	})
	if err != nil {
		return err
	}
	e.log.Info("account deleted", "did", did)
	e.noteAccounts(ctx)
	return nil
}
