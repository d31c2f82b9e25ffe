package repos

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/store"
)

// The MST block table (mst_block): every node of each account's current
// tree, keyed by binary CID. Commits keep it exact in their transaction;
// writes read their paths from it through the byte-bounded node cache.
const (
	sqlNodeBytes  = "SELECT bytes FROM mst_block WHERE did = ? AND cid = ?"
	sqlInsertNode = "INSERT INTO mst_block(did, cid, bytes) VALUES(?, ?, ?) ON CONFLICT(did, cid) DO NOTHING"
	sqlDeleteNode = "DELETE FROM mst_block WHERE did = ? AND cid = ?"
	sqlHasNode    = "SELECT count(*) FROM mst_block WHERE did = ? AND cid = ?"
)

var blockStatements = []string{sqlInsertNode, sqlDeleteNode}

// NodeCacheBytes is the default budget of the MST node cache shared by all
// accounts: enough for the hot paths of a big repo (a write at a million
// records touches about ten nodes of a few hundred bytes).
const NodeCacheBytes = 16 << 20

// queryRower is a read-only connection or transaction.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// txRows adapts a store.Tx to queryRower.
type txRows struct{ tx *store.Tx }

func (t txRows) QueryRowContext(_ context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRow(query, args...)
}

// nodeSource reads did's nodes through the cache, from q on a miss.
type nodeSource struct {
	ctx   context.Context
	cache *nodeCache
	q     queryRower
	did   string
}

func (s nodeSource) NodeBytes(c cid.Cid) ([]byte, error) {
	if b, ok := s.cache.get(c); ok {
		return b, nil
	}
	var b []byte
	if err := s.q.QueryRowContext(s.ctx, sqlNodeBytes, s.did, c.Bytes()).Scan(&b); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("MST node %s is not stored", c)
		}
		return nil, err
	}
	s.cache.put(c, b)
	return b, nil
}

// storeNodes applies a commit's node changes to the block table in tx.
func (r *Repos) storeNodes(tx *store.Tx, did syntax.DID, res *actorrepo.CommitResult) error {
	d := did.String()
	for _, c := range res.Removed {
		if _, err := tx.Exec(sqlDeleteNode, d, c.Bytes()); err != nil {
			return fmt.Errorf("delete MST node: %w", err)
		}
	}
	for _, b := range res.Nodes {
		if _, err := tx.Exec(sqlInsertNode, d, b.CID.Bytes(), b.Data); err != nil {
			return fmt.Errorf("store MST node: %w", err)
		}
	}
	nodes := res.Nodes
	tx.OnCommit(func() {
		for _, b := range nodes {
			r.nodes.put(b.CID, b.Data)
		}
	})
	return nil
}

// storeAllNodes replaces did's block table with every node of repo (a
// full, in-memory tree: a new account, an import, the one-time fill).
func storeAllNodes(tx *store.Tx, did syntax.DID, repo *actorrepo.Repo) (int, error) {
	nodes, err := repo.Nodes()
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec("DELETE FROM mst_block WHERE did = ?", did.String()); err != nil {
		return 0, fmt.Errorf("clear MST nodes: %w", err)
	}
	for _, b := range nodes {
		if _, err := tx.Exec(sqlInsertNode, did.String(), b.CID.Bytes(), b.Data); err != nil {
			return 0, fmt.Errorf("store MST node: %w", err)
		}
	}
	return len(nodes), nil
}

// ensureBlocks makes sure did's block table holds its current tree,
// filling it once from the record table for a repo written before the
// table existed (the tree is rebuilt and checked against the head commit).
// The caller holds w.mu.
func (r *Repos) ensureBlocks(ctx context.Context, w *warm, did syntax.DID) error {
	if w.blocksOK {
		return nil
	}
	var head []byte
	if err := r.db.R.QueryRowContext(ctx, sqlHeadBytes, did.String()).Scan(&head); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return errs.RepoNotFound(did.String())
		}
		return fmt.Errorf("read repo root: %w", err)
	}
	h, err := actorrepo.ParseHead(head)
	if err != nil {
		return err
	}
	var n int
	if err := r.db.R.QueryRowContext(ctx, sqlHasNode, did.String(), h.Commit.Data.Bytes()).Scan(&n); err != nil {
		return fmt.Errorf("look for the MST root: %w", err)
	}
	if n > 0 {
		w.blocksOK = true
		return nil
	}
	start := time.Now()
	var stored int
	err = r.db.Write(ctx, func(tx *store.Tx) error {
		var head []byte
		if err := tx.QueryRow(sqlHeadBytes, did.String()).Scan(&head); err != nil {
			return fmt.Errorf("read repo root: %w", err)
		}
		m, err := recordIndex(tx, did)
		if err != nil {
			return err
		}
		full, err := actorrepo.Load(did, m, head)
		if err != nil {
			return err
		}
		stored, err = storeAllNodes(tx, did, full)
		return err
	})
	if err != nil {
		return fmt.Errorf("fill the MST block table of %s: %w", did, err)
	}
	r.log.Info("stored the MST nodes of a repo written before they were kept", "did", did, "nodes", stored, "took", time.Since(start).Round(time.Millisecond))
	w.blocksOK = true
	return nil
}
