package repos

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/store"
)

// The MST block tables: every node of each account's current tree, keyed
// by binary CID, in mst_block or, for the nodes its latest commit added,
// in the small mst_block_recent (see migration 0012): the next commit
// mostly replaces those, and deleting them from a table of a few hot pages
// costs far less than from random pages of the big one. Commits keep the
// two together exact in their transaction; writes read their paths from
// them through the byte-bounded node cache.
const (
	sqlNodeBytes = "SELECT bytes FROM mst_block_recent WHERE did = ?1 AND cid = ?2 " +
		"UNION ALL SELECT bytes FROM mst_block WHERE did = ?1 AND cid = ?2 LIMIT 1"
	sqlHasNode = "SELECT (SELECT count(*) FROM mst_block WHERE did = ?1 AND cid = ?2) + " +
		"(SELECT count(*) FROM mst_block_recent WHERE did = ?1 AND cid = ?2)"
	// sqlCountNodes counts an account's nodes in both tables.
	sqlCountNodes = "SELECT (SELECT count(*) FROM mst_block WHERE did = ?1) + " +
		"(SELECT count(*) FROM mst_block_recent WHERE did = ?1)"
	sqlFlushRecent = "INSERT INTO mst_block(did, cid, bytes) SELECT did, cid, bytes FROM mst_block_recent " +
		"WHERE did = ? ON CONFLICT(did, cid) DO NOTHING"
	sqlClearRecent = "DELETE FROM mst_block_recent WHERE did = ?"
)

// The two node tables.
const (
	tableMain   = "mst_block"
	tableRecent = "mst_block_recent"
)

// nodeChunks are the row counts of the multi-row node statements, largest
// first: a commit's ten or so nodes go in one or two statements.
var nodeChunks = []int{64, 16, 12, 10, 8, 6, 4, 2, 1}

func sqlInsertNodes(table string, n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + "(did, cid, bytes) VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?)")
	}
	b.WriteString(" ON CONFLICT(did, cid) DO NOTHING")
	return b.String()
}

func sqlDeleteNodes(table string, n int) string {
	return "DELETE FROM " + table + " WHERE did = ? AND cid IN (?" + strings.Repeat(", ?", n-1) + ")"
}

type chunkKey struct {
	table string
	n     int
}

var (
	sqlInsertNodeChunk = map[chunkKey]string{}
	sqlDeleteNodeChunk = map[chunkKey]string{}
	blockStatements    = func() []string {
		qs := []string{sqlFlushRecent, sqlClearRecent}
		for _, t := range []string{tableMain, tableRecent} {
			for _, n := range nodeChunks {
				k := chunkKey{t, n}
				sqlInsertNodeChunk[k], sqlDeleteNodeChunk[k] = sqlInsertNodes(t, n), sqlDeleteNodes(t, n)
				qs = append(qs, sqlInsertNodeChunk[k], sqlDeleteNodeChunk[k])
			}
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

// storeNodes applies a commit's node changes to the block tables in tx:
// the nodes it removed are deleted (from mst_block_recent when the
// previous commit added them), the previous commit's nodes it kept move to
// mst_block, and its own new nodes go to mst_block_recent. When w does not
// know what mst_block_recent holds (after a start or a failed commit),
// everything there moves to mst_block first. The caller holds w.mu.
func (r *Repos) storeNodes(tx *store.Tx, w *warm, did syntax.DID, res *actorrepo.CommitResult) error {
	d := did.String()
	if !w.recentKnown {
		if _, err := tx.Exec(sqlFlushRecent, d); err != nil {
			return fmt.Errorf("move recent MST nodes: %w", err)
		}
		if _, err := tx.Exec(sqlClearRecent, d); err != nil {
			return fmt.Errorf("move recent MST nodes: %w", err)
		}
		if err := deleteNodes(tx, tableMain, d, res.Removed); err != nil {
			return err
		}
	} else {
		var fromRecent, fromMain []cid.Cid
		removed := make(map[cid.Cid]struct{}, len(res.Removed))
		for _, c := range res.Removed {
			removed[c] = struct{}{}
			if _, ok := w.recent[c]; ok {
				fromRecent = append(fromRecent, c)
			} else {
				fromMain = append(fromMain, c)
			}
		}
		var kept []actorrepo.Block
		for c, b := range w.recent {
			if _, ok := removed[c]; !ok {
				kept = append(kept, actorrepo.Block{CID: c, Data: b})
				fromRecent = append(fromRecent, c)
			}
		}
		if err := deleteNodes(tx, tableRecent, d, fromRecent); err != nil {
			return err
		}
		if err := deleteNodes(tx, tableMain, d, fromMain); err != nil {
			return err
		}
		if err := insertNodes(tx, tableMain, d, kept); err != nil {
			return err
		}
	}
	if err := insertNodes(tx, tableRecent, d, res.Nodes); err != nil {
		return err
	}
	nodes := res.Nodes
	recent := make(map[cid.Cid][]byte, len(nodes))
	for _, b := range nodes {
		recent[b.CID] = b.Data
	}
	tx.OnCommit(func() {
		w.recent, w.recentKnown = recent, true
		for _, b := range nodes {
			r.nodes.put(b.CID, b.Data)
		}
	})
	return nil
}

// deleteNodes deletes cids from did's rows of table, several a statement.
func deleteNodes(tx *store.Tx, table, did string, cids []cid.Cid) error {
	args := make([]any, 0, 1+min(len(cids), nodeChunks[0]))
	for rest := cids; len(rest) > 0; {
		n := chunk(len(rest))
		args = append(args[:0], did)
		for _, c := range rest[:n] {
			args = append(args, c.Bytes())
		}
		if _, err := tx.Exec(sqlDeleteNodeChunk[chunkKey{table, n}], args...); err != nil {
			return fmt.Errorf("delete MST nodes: %w", err)
		}
		rest = rest[n:]
	}
	return nil
}

// storeAllNodes replaces did's block tables with every node of repo (a
// full, in-memory tree: a new account, an import, the one-time fill),
// inserted in key order so that the table's pages are filled.
func storeAllNodes(tx *store.Tx, did syntax.DID, repo *actorrepo.Repo) (int, error) {
	nodes, err := repo.Nodes()
	if err != nil {
		return 0, err
	}
	for _, q := range []string{"DELETE FROM mst_block WHERE did = ?", sqlClearRecent} {
		if _, err := tx.Exec(q, did.String()); err != nil {
			return 0, fmt.Errorf("clear MST nodes: %w", err)
		}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].CID.KeyString() < nodes[j].CID.KeyString() })
	if err := insertNodes(tx, tableMain, did.String(), nodes); err != nil {
		return 0, err
	}
	return len(nodes), nil
}

// insertNodes stores blocks in did's rows of table, several a statement.
func insertNodes(tx *store.Tx, table, did string, blocks []actorrepo.Block) error {
	args := make([]any, 0, 3*min(len(blocks), nodeChunks[0]))
	for rest := blocks; len(rest) > 0; {
		n := chunk(len(rest))
		args = args[:0]
		for _, b := range rest[:n] {
			args = append(args, did, b.CID.Bytes(), b.Data)
		}
		if _, err := tx.Exec(sqlInsertNodeChunk[chunkKey{table, n}], args...); err != nil {
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
	w.blocksOK, w.recentKnown = true, false
	return nil
}
