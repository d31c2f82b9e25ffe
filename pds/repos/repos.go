package repos

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/blobs"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/eventlog"
	"github.com/hearth-pds/hearth/pds/lexval"
	"github.com/hearth-pds/hearth/pds/store"
)

// Repos is the repository component.
type Repos struct {
	db       *store.Store
	events   *eventlog.Log
	accounts *accounts.Accounts
	blobs    *blobs.Blobs
	lex      *lexval.Validator
	log      *slog.Logger

	mu    sync.Mutex
	repos map[syntax.DID]*warm // per account: its lock and warm tree

	collections nsidCache
	nodes       *nodeCache // encoded MST nodes, shared by all accounts
}

// warm is one account's single-writer lock and its tree, loaded on first
// use and kept in memory.
type warm struct {
	mu   sync.Mutex
	repo *actorrepo.Repo // nil until loaded, or after a failed write
	// blocksOK: the block tables are known to hold the current tree.
	blocksOK bool
	// recent holds the nodes in mst_block_recent for this account, when
	// recentKnown (after a commit of this process); see storeNodes.
	recent      map[cid.Cid][]byte
	recentKnown bool
}

// Open wires the component and prepares the write path's statements.
func Open(ctx context.Context, db *store.Store, events *eventlog.Log, accts *accounts.Accounts, bl *blobs.Blobs, log *slog.Logger) (*Repos, error) {
	lex, err := lexval.New()
	if err != nil {
		return nil, fmt.Errorf("load lexicons: %w", err)
	}
	if err := db.Prepare(ctx, hotStatements...); err != nil {
		return nil, err
	}
	if err := db.Prepare(ctx, blockStatements...); err != nil {
		return nil, err
	}
	return &Repos{db: db, events: events, accounts: accts, blobs: bl, lex: lex, log: log, repos: map[syntax.DID]*warm{}, nodes: newNodeCache(NodeCacheBytes)}, nil
}

// ParseCollection parses a collection NSID, remembering names that parsed
// (a batch names the same collection many times).
func (r *Repos) ParseCollection(s string) (syntax.NSID, error) {
	n, err := r.collections.parse(s)
	if err != nil {
		return "", errs.Invalid("invalid collection %q: %v", s, err)
	}
	return n, nil
}

func (r *Repos) warm(did syntax.DID) *warm {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.repos[did]
	if w == nil {
		w = &warm{}
		r.repos[did] = w
	}
	return w
}

// Lock takes did's single-writer lock (for changes of the account as a
// whole, such as deleting it) and returns its unlock.
func (r *Repos) Lock(did syntax.DID) func() {
	w := r.warm(did)
	w.mu.Lock()
	return w.mu.Unlock
}

// Repo statements.
const (
	sqlUpsertRoot = `INSERT INTO repo_root(did, commit_cid, rev, data_cid, commit_bytes) VALUES(?, ?, ?, ?, ?)
		ON CONFLICT(did) DO UPDATE SET commit_cid = excluded.commit_cid, rev = excluded.rev, data_cid = excluded.data_cid, commit_bytes = excluded.commit_bytes`
	sqlHeadBytes = "SELECT commit_bytes FROM repo_root WHERE did = ?"
)

// Init stores a new account's first commit (head and MST nodes) in tx and,
// when announce is set, its #commit event. The caller holds Lock(did).
func (r *Repos) Init(tx *store.Tx, repo *actorrepo.Repo, res *actorrepo.CommitResult, announce bool) error {
	did := syntax.DID(res.Head.Commit.DID)
	if err := r.storeHead(tx, did, res.Head); err != nil {
		return err
	}
	if _, err := storeAllNodes(tx, did, repo); err != nil {
		return err
	}
	if announce {
		if _, err := r.events.Append(tx, eventlog.Commit(did, res)); err != nil {
			return err
		}
	}
	// The next write opens the tree lazily from the stored nodes.
	tx.OnCommit(func() {
		w := r.warm(did)
		w.repo, w.blocksOK, w.recentKnown = nil, true, false
	})
	return nil
}

func (r *Repos) storeHead(tx *store.Tx, did syntax.DID, h actorrepo.Head) error {
	if _, err := tx.Exec(sqlUpsertRoot, did.String(), h.CID.String(), h.Rev(), h.Commit.Data.String(), h.Bytes); err != nil {
		return fmt.Errorf("store repo root: %w", err)
	}
	return nil
}

// Delete removes did's records and head in tx; the warm tree is dropped
// once tx commits. The caller holds Lock(did).
func (r *Repos) Delete(tx *store.Tx, did syntax.DID) error {
	for _, q := range []string{"DELETE FROM record WHERE did = ?", "DELETE FROM mst_block WHERE did = ?", sqlClearRecent, "DELETE FROM repo_root WHERE did = ?"} {
		if _, err := tx.Exec(q, did.String()); err != nil {
			return fmt.Errorf("delete repo: %w", err)
		}
	}
	tx.OnCommit(func() {
		r.mu.Lock()
		if w := r.repos[did]; w != nil {
			w.repo = nil
			delete(r.repos, did)
		}
		r.mu.Unlock()
	})
	return nil
}

// HeadIn reads did's current head inside tx.
func (r *Repos) HeadIn(tx *store.Tx, did syntax.DID) (actorrepo.Head, error) {
	var b []byte
	if err := tx.QueryRow(sqlHeadBytes, did.String()).Scan(&b); err != nil {
		if err == sql.ErrNoRows {
			return actorrepo.Head{}, errs.RepoNotFound(did.String())
		}
		return actorrepo.Head{}, fmt.Errorf("read repo head: %w", err)
	}
	return actorrepo.ParseHead(b)
}

// load returns the account's warm repo, opening it lazily from its head
// and the block table if needed: O(1) reads, whatever the repo's size.
// The caller holds w.mu.
func (r *Repos) load(ctx context.Context, w *warm, did syntax.DID) (*actorrepo.Repo, error) {
	if w.repo != nil {
		return w.repo, nil
	}
	if err := r.ensureBlocks(ctx, w, did); err != nil {
		return nil, err
	}
	var head []byte
	if err := r.db.R.QueryRowContext(ctx, sqlHeadBytes, did.String()).Scan(&head); err != nil {
		if err == sql.ErrNoRows {
			return nil, errs.RepoNotFound(did.String())
		}
		return nil, fmt.Errorf("read repo root: %w", err)
	}
	// The source reads with the background context: the repo outlives
	// this request, and each read is one indexed row.
	src := nodeSource{ctx: context.Background(), cache: r.nodes, q: r.db.R, did: did.String()}
	repo, err := actorrepo.Open(did, head, src)
	if err != nil {
		return nil, err
	}
	w.repo = repo
	return repo, nil
}

func recordIndex(tx *store.Tx, did syntax.DID) (map[string]cid.Cid, error) {
	rows, err := tx.Query("SELECT collection, rkey, cid FROM record WHERE did = ?", did.String())
	if err != nil {
		return nil, fmt.Errorf("read record index: %w", err)
	}
	defer rows.Close()
	m := map[string]cid.Cid{}
	for rows.Next() {
		var col, rkey, cs string
		if err := rows.Scan(&col, &rkey, &cs); err != nil {
			return nil, fmt.Errorf("read record index: %w", err)
		}
		c, err := cid.Decode(cs)
		if err != nil {
			return nil, fmt.Errorf("record %s/%s has a bad CID: %w", col, rkey, err)
		}
		m[col+"/"+rkey] = c
	}
	return m, rows.Err()
}
