package pds

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/folder"
	"github.com/hearth-pds/hearth/pds/secrets"
	"github.com/hearth-pds/hearth/pds/store"
)

// openChecked opens the folder's database and wires the engine, refusing
// (errs.ErrDataDamaged, with what to do) a folder whose marker says it
// held accounts while the database is missing, empty or holds none; a
// database that fails SQLite's quick_check; and an account whose head
// commit is missing or does not verify. The caller holds the folder lock.
func openChecked(ctx context.Context, cfg Config, pu *url.URL) (*Engine, error) {
	dir := cfg.DataDir
	st, err := folder.ReadState(dir)
	if err != nil {
		return nil, err
	}
	if err := folder.CheckDatabase(dir, st); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, folder.DatabaseFile)
	fi, err := os.Stat(path)
	existed := err == nil && fi.Size() > 0
	// Decided before the database is opened (opening may touch it).
	unchanged := folder.DatabaseUnchanged(dir, st)
	orig := st
	if st, err = folder.Secure(dir, st); err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, path)
	if err != nil {
		if existed {
			return nil, folder.Damaged(dir, "the database %s cannot be opened (%v)", path, err)
		}
		return nil, err
	}
	e, err := checkAndWire(ctx, db, cfg, pu, orig, st, unchanged)
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return e, nil
}

// checkAndWire is openChecked once the database is open; orig is the
// marker as read, st as it is after the file-mode repair; unchanged says
// the database file is as the last clean stop left it, so SQLite's
// quick_check (which reads every page) is skipped.
func checkAndWire(ctx context.Context, db *store.Store, cfg Config, pu *url.URL, orig, st folder.State, unchanged bool) (*Engine, error) {
	dir := cfg.DataDir
	if !unchanged {
		problems, err := db.QuickCheck(ctx)
		if err != nil {
			return nil, folder.Damaged(dir, "the database cannot be checked (%v)", err)
		}
		if len(problems) > 0 {
			return nil, folder.Damaged(dir, "the database fails SQLite's integrity check (%s)", strings.Join(first(problems, 3), "; "))
		}
	}
	box, err := secrets.Load(dir, cfg.KeyStore, cfg.Keyring)
	if err != nil {
		return nil, err
	}
	e, err := wire(ctx, db, box, pu, cfg)
	if err != nil {
		return nil, err
	}
	accs, err := e.Accounts.List(ctx)
	if err != nil {
		return nil, err
	}
	if st.Accounts > 0 && len(accs) == 0 {
		return nil, folder.Damaged(dir, "the database holds no accounts, but this folder held %d", st.Accounts)
	}
	if err := e.checkHeads(ctx); err != nil {
		return nil, err
	}
	e.log.Info("data folder checked", "data_dir", dir, "accounts", len(accs), "data_key", box.Where,
		"quick_check", !unchanged)
	e.quickChecked = !unchanged
	st.Accounts = len(accs)
	// From here the database is in use: the next start checks it in full
	// unless Close records a clean stop again.
	st.Clean = nil
	if st != orig {
		if err := folder.WriteState(dir, st); err != nil {
			return nil, err
		}
	}
	e.state = st
	return e, nil
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// checkHeads checks every account's head commit: the block is there, its
// CID and MST root match repo_root, and its signature verifies with the
// account's signing key. It costs one row and one signature check per
// account, whatever the size of the repos. (The MST itself is rebuilt from
// the record rows when the repo is first written; a full walk is a job for
// a verify command, not for every start.) Any failure refuses the start:
// serving reads of a repo whose head is broken would hand relays an
// unverifiable repo, and Hearth is mostly one account per folder, so
// refusing the folder is what the user needs to see.
func (e *Engine) checkHeads(ctx context.Context) error {
	type head struct {
		did, commitCID, dataCID string
		bytes                   []byte
		hasRoot                 bool
	}
	var heads []head
	err := e.db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(`SELECT a.did, r.commit_cid, r.data_cid, r.commit_bytes FROM account a
			LEFT JOIN repo_root r ON r.did = a.did ORDER BY a.did`)
		if err != nil {
			return fmt.Errorf("read repo heads: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var h head
			var cc, dc sql.NullString
			if err := rows.Scan(&h.did, &cc, &dc, &h.bytes); err != nil {
				return fmt.Errorf("read repo heads: %w", err)
			}
			h.commitCID, h.dataCID, h.hasRoot = cc.String, dc.String, cc.Valid
			heads = append(heads, h)
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	var bad []string
	for _, h := range heads {
		if msg := e.checkHead(ctx, syntax.DID(h.did), h.hasRoot, h.commitCID, h.dataCID, h.bytes); msg != "" {
			bad = append(bad, h.did+": "+msg)
		}
	}
	if len(bad) > 0 {
		return folder.Damaged(e.cfg.DataDir, "the repository head of %d account(s) is broken (%s)", len(bad), strings.Join(bad, "; "))
	}
	return nil
}

// checkHead says what is wrong with one account's head ("" if nothing).
func (e *Engine) checkHead(ctx context.Context, did syntax.DID, hasRoot bool, commitCID, dataCID string, b []byte) string {
	if !hasRoot {
		return "no repository head (repo_root row missing)"
	}
	if len(b) == 0 {
		return "the head commit block is missing"
	}
	h, err := actorrepo.ParseHead(b)
	if err != nil {
		return fmt.Sprintf("the head commit block is unreadable (%v)", err)
	}
	switch {
	case h.CID.String() != commitCID:
		return fmt.Sprintf("the head commit block is %s, repo_root names %s", h.CID, commitCID)
	case h.Commit.Data.String() != dataCID:
		return fmt.Sprintf("the head commit's MST root is %s, repo_root names %s", h.Commit.Data, dataCID)
	case h.Commit.DID != did.String():
		return fmt.Sprintf("the head commit belongs to %s", h.Commit.DID)
	}
	var migrating bool
	if err := e.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		migrating, err = e.Accounts.Migrating(tx, did)
		return err
	}); err != nil {
		return err.Error()
	}
	if migrating {
		return "" // an imported repo is signed by the old PDS's key until the first write here
	}
	keys, err := e.Accounts.Keys(ctx, did)
	if err != nil {
		return fmt.Sprintf("its keys cannot be read (%v)", err)
	}
	pub, err := keys.SigningPublic()
	if err != nil {
		return fmt.Sprintf("its signing key is unusable (%v)", err)
	}
	if err := h.Commit.VerifySignature(pub); err != nil {
		return fmt.Sprintf("the head commit's signature does not verify with the account's signing key (%v)", err)
	}
	return ""
}

// noteAccounts records the account count in hearth.state after an account
// is created or deleted, so a database lost later is noticed at start.
func (e *Engine) noteAccounts(ctx context.Context) {
	accs, err := e.Accounts.List(ctx)
	if err != nil {
		e.log.Warn("count accounts for hearth.state", "err", err)
		return
	}
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	st := e.state
	st.Accounts = len(accs)
	if err := folder.WriteState(e.cfg.DataDir, st); err != nil {
		e.log.Error("hearth.state not updated: a lost database would not be noticed at start", "err", err)
		return
	}
	e.state = st
}
