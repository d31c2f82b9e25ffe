package repos

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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
	sqlHasNode    = "SELECT count(*) FROM mst_block WHERE did = ? AND cid = ?"
)

// nodeChunks are the row counts of the multi-row node statements, largest
// first: a commit's ten or so nodes go in two or three statements.
var nodeChunks = []int{16, 4, 1}

func sqlInsertNodes(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO mst_block(did, cid, bytes) VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?)")
	}
	b.WriteString(" ON CONFLICT(did, cid) DO NOTHING")
	return b.String()
}

func sqlDeleteNodes(n int) string {
	return "DELETE FROM mst_block WHERE did = ? AND cid IN (?" + strings.Repeat(", ?", n-1) + ")"
}

var (
	sqlInsertNodeChunk = map[int]string{}
	sqlDeleteNodeChunk = map[int]string{}
	blockStatements    = func() []string {
		var qs []string
		for _, n := range nodeChunks {
			sqlInsertNodeChunk[n], sqlDeleteNodeChunk[n] = sqlInsertNodes(n), sqlDeleteNodes(n)
			qs = append(qs, sqlInsertNodeChunk[n], sqlDeleteNodeChunk[n])
		}
		return qs
	}()
)

// chunk is the largest of nodeChunks not above n.
func chunk(n int) int {
	for _, c := range nodeChunks {
		if c <= n {
			return c
		}
	}
	return 1
}

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
	for rest := res.Removed; len(rest) > 0; {
		n := chunk(len(rest))
		args := make([]any, 0, 1+n)
		args = append(args, d)
		for _, c := range rest[:n] {
			args = append(args, c.Bytes())
		}
		if _, err := tx.Exec(sqlDeleteNodeChunk[n], args...); err != nil {
			return fmt.Errorf("delete MST nodes: %w", err)
		}
		rest = rest[n:]
	}
	if err := insertNodes(tx, d, res.Nodes); err != nil {
		return err
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
	if err := insertNodes(tx, did.String(), nodes); err != nil {
		return 0, err
	}
	return len(nodes), nil
}

// insertNodes stores blocks in did's block table, several rows a statement.
func insertNodes(tx *store.Tx, did string, blocks []actorrepo.Block) error {
	args := make([]any, 0, 3*nodeChunks[0])
	for rest := blocks; len(rest) > 0; {
		n := chunk(len(rest))
		args = args[:0]
		for _, b := range rest[:n] {
			args = append(args, did, b.CID.Bytes(), b.Data)
		}
		if _, err := tx.Exec(sqlInsertNodeChunk[n], args...); err != nil {
			return fmt.Errorf("store MST nodes: %w", err)
		}
		rest = rest[n:]
	}
	return nil
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
