package repos

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/store"
)

// ProgressEvent is one step of a long job: Phase names what is happening,
// Done out of Total (Total is 0 when unknown).
type ProgressEvent struct {
	Phase string
	Done  int64
	Total int64
}

// Progress receives progress events; it must not block for long.
type Progress func(ProgressEvent)

// OpenExports reports how many exports hold a streamed read transaction now (at most store.MaxLongReads).
func (r *Repos) OpenExports() int { return r.db.LongReadsInUse() }

// snapshot opens a read transaction on did's repo and reads its head
// there; the MST nodes (block table) and records are then read from that
// transaction, which sees one commit's state whole, without blocking
// writers. The caller rolls it back. The account's write lock is taken
// only briefly, before the transaction, the first time a repo written
// before the block table existed is read (to fill the table once).
//
// streamed says the caller writes to a client while it holds the
// transaction (an export), so it takes one of the store's few streamed-read
// slots; short reads (getBlocks, which buffers, and small proofs) do not.
func (r *Repos) snapshot(ctx context.Context, did syntax.DID, streamed bool) (*store.Tx, actorrepo.Head, error) {
	w := r.warm(did)
	w.mu.Lock()
	err := r.ensureBlocks(ctx, w, did)
	w.mu.Unlock()
	if err != nil {
		return nil, actorrepo.Head{}, err
	}
	open := r.db.Snapshot
	if streamed {
		open = r.db.StreamSnapshot
	}
	tx, err := open(ctx)
	if err != nil {
		return nil, actorrepo.Head{}, err
	}
	var headBytes []byte
	if err := tx.QueryRow(sqlHeadBytes, did.String()).Scan(&headBytes); err != nil {
		_ = tx.Rollback() // read-only: nothing to undo
		if err == sql.ErrNoRows {
			return nil, actorrepo.Head{}, errs.RepoNotFound(did.String())
		}
		return nil, actorrepo.Head{}, fmt.Errorf("read repo head: %w", err)
	}
	head, err := actorrepo.ParseHead(headBytes)
	if err != nil {
		_ = tx.Rollback()
		return nil, actorrepo.Head{}, err
	}
	return tx, head, nil
}

// ExportRepo writes did's whole repo (or, with since, the commit, every MST
// node and the records written after that rev) as a CAR to w, a client
// that may read slowly or stall: it holds one of the store's few
// streamed-read slots (store.MaxLongReads) while it writes, and fails with
// errs.ErrRateLimited when none frees up in time.
func (r *Repos) ExportRepo(ctx context.Context, did syntax.DID, since string, w io.Writer, progress Progress) error {
	return r.exportRepo(ctx, did, since, w, progress, true)
}

// ExportRepoLocal is ExportRepo for the owner's own export to a local file
// (the desktop window): it never stalls, so it takes no streamed-read slot
// and is not turned away when strangers' downloads hold them all.
func (r *Repos) ExportRepoLocal(ctx context.Context, did syntax.DID, since string, w io.Writer, progress Progress) error {
	return r.exportRepo(ctx, did, since, w, progress, false)
}

func (r *Repos) exportRepo(ctx context.Context, did syntax.DID, since string, w io.Writer, progress Progress, streamed bool) error {
	if _, err := r.accounts.Get(ctx, did); err != nil {
		return err
	}
	tx, head, err := r.snapshot(ctx, did, streamed)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	recordsQuery := "SELECT cid, bytes FROM record WHERE did = ?"
	cidsQuery := "SELECT cid FROM record WHERE did = ?"
	countQuery := "SELECT count(*) FROM record WHERE did = ?"
	args := []any{did.String()}
	if since != "" {
		recordsQuery += " AND rev > ?"
		cidsQuery += " AND rev > ?"
		countQuery += " AND rev > ?"
		args = append(args, since)
	}
	// Both passes in key order (the primary key's, so no sort): a second
	// pass (resolveDedup) must see the rows in the first one's order.
	recordsQuery += " ORDER BY collection, rkey"
	cidsQuery += " ORDER BY collection, rkey"
	// The totals are only for progress: counting reads the whole record
	// table once more (about a tenth of a getRepo at a million records).
	var total int64
	if progress != nil {
		var nodeCount int64
		if err := tx.QueryRow(sqlCountNodes, did.String()).Scan(&nodeCount); err != nil {
			return fmt.Errorf("count MST nodes: %w", err)
		}
		if err := tx.QueryRow(countQuery, args...).Scan(&total); err != nil {
			return fmt.Errorf("count records: %w", err)
		}
		total += nodeCount + 1
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	cw, err := actorrepo.NewCARWriter(bw, head.CID)
	if err != nil {
		return err
	}
	if err := cw.Put(actorrepo.Block{CID: head.CID, Data: head.Bytes}); err != nil {
		return err
	}
	done := int64(1)
	// The nodes stream from the block table (which holds exactly the
	// current tree), in CID order: a CAR's blocks may come in any order.
	if err := putNodes(tx, did, cw, &done); err != nil {
		return err
	}
	rows, err := tx.Query(recordsQuery, args...)
	if err != nil {
		return fmt.Errorf("read records: %w", err)
	}
	defer rows.Close()
	// Records with equal content share a block (recordDedup).
	dedup := newRecordDedup(int(total))
	var cidBuf []byte
	for rows.Next() {
		// RawBytes: the driver's copies are written out before the next
		// row, so nothing is copied again per record.
		var cs, b sql.RawBytes
		if err := rows.Scan(&cs, &b); err != nil {
			return fmt.Errorf("read records: %w", err)
		}
		done++
		if cidBuf, err = actorrepo.AppendCIDBytes(cidBuf[:0], cs); err != nil {
			return fmt.Errorf("record CID %q: %w", cs, err)
		}
		if !dedup.First(cidBuf, b) {
			continue
		}
		if err := cw.PutRaw(cidBuf, b); err != nil {
			return err
		}
		if progress != nil && done%1000 == 0 {
			progress(ProgressEvent{Phase: "export", Done: done, Total: total})
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read records: %w", err)
	}
	if dedup.NeedsResolve() {
		if err := resolveDedup(tx, dedup, cidsQuery, args, cw); err != nil {
			return err
		}
	}
	if progress != nil {
		progress(ProgressEvent{Phase: "export", Done: total, Total: total})
	}
	return bw.Flush()
}

// RecordProof writes a CAR proving a record's presence (or absence): the
// commit, the MST path and the record block if it exists.
func (r *Repos) RecordProof(ctx context.Context, did syntax.DID, collection syntax.NSID, rkey syntax.RecordKey, w io.Writer) error {
	var proof []actorrepo.Block
	var recCID *cid.Cid
	path := collection.String() + "/" + rkey.String()
	tx, head, err := r.snapshot(ctx, did, false)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	src := nodeSource{ctx: ctx, cache: r.nodes, q: txRows{tx}, did: did.String()}
	if proof, recCID, err = actorrepo.ProofPath(src, head.Commit.Data, path); err != nil {
		return err
	}
	blocks := append([]actorrepo.Block{{CID: head.CID, Data: head.Bytes}}, proof...)
	if recCID != nil {
		var b []byte
		if err := tx.QueryRow("SELECT bytes FROM record WHERE did = ? AND collection = ? AND rkey = ?", did.String(), collection.String(), rkey.String()).Scan(&b); err != nil {
			return fmt.Errorf("read record: %w", err)
		}
		blocks = append(blocks, actorrepo.Block{CID: *recCID, Data: b})
	}
	_ = tx.Rollback() // everything is read: a slow client holds no read connection
	cw, err := actorrepo.NewCARWriter(w, head.CID)
	if err != nil {
		return err
	}
	for _, b := range blocks {
		if err := cw.Put(b); err != nil {
			return err
		}
	}
	return nil
}

// GetBlocks writes the requested blocks (commit, MST nodes or records of
// the current repo) as a CAR. Unknown CIDs are an error.
func (r *Repos) GetBlocks(ctx context.Context, did syntax.DID, cids []cid.Cid, w io.Writer) error {
	want := map[string]bool{}
	for _, c := range cids {
		want[c.String()] = true
	}
	found := map[string]actorrepo.Block{}
	tx, head, err := r.snapshot(ctx, did, false)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if want[head.CID.String()] {
		found[head.CID.String()] = actorrepo.Block{CID: head.CID, Data: head.Bytes}
	}
	for _, c := range cids {
		s := c.String()
		if _, ok := found[s]; ok {
			continue
		}
		var b []byte
		err := tx.QueryRow(sqlNodeBytes, did.String(), c.Bytes()).Scan(&b)
		if err == sql.ErrNoRows {
			// Not a node of the current tree: one of its records?
			err = tx.QueryRow("SELECT bytes FROM record WHERE did = ? AND cid = ? LIMIT 1", did.String(), s).Scan(&b)
		}
		if err == sql.ErrNoRows {
			return errs.New(errs.ErrBlockNotFound, "block not found: %s", s)
		}
		if err != nil {
			return fmt.Errorf("read block: %w", err)
		}
		found[s] = actorrepo.Block{CID: c, Data: b}
	}
	_ = tx.Rollback() // everything is read: a slow client holds no read connection
	cw, err := actorrepo.NewCARWriter(w, head.CID)
	if err != nil {
		return err
	}
	for _, c := range cids {
		if b, ok := found[c.String()]; ok {
			if err := cw.Put(b); err != nil {
				return err
			}
			delete(found, c.String())
		}
	}
	return nil
}

// resolveDedup reads the exported records' CIDs again (query, args: the
// same rows in the same order) so dedup can write the blocks it held back.
func resolveDedup(tx *store.Tx, dedup *recordDedup, query string, args []any, cw *actorrepo.CARWriter) error {
	rows, err := tx.Query(query, args...)
	if err != nil {
		return fmt.Errorf("read record CIDs: %w", err)
	}
	defer rows.Close()
	var cidBuf []byte
	next := func() ([]byte, bool, error) {
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return nil, false, fmt.Errorf("read record CIDs: %w", err)
			}
			return nil, false, nil
		}
		var cs sql.RawBytes
		if err := rows.Scan(&cs); err != nil {
			return nil, false, fmt.Errorf("read record CIDs: %w", err)
		}
		if cidBuf, err = actorrepo.AppendCIDBytes(cidBuf[:0], cs); err != nil {
			return nil, false, fmt.Errorf("record CID %q: %w", cs, err)
		}
		return cidBuf, true, nil
	}
	return dedup.Resolve(next, cw.PutRaw)
}

// putNodes writes did's MST nodes from the block table to cw.
func putNodes(tx *store.Tx, did syntax.DID, cw *actorrepo.CARWriter, done *int64) error {
	rows, err := tx.Query("SELECT cid, bytes FROM mst_block WHERE did = ?1 UNION ALL SELECT cid, bytes FROM mst_block_recent WHERE did = ?1", did.String())
	if err != nil {
		return fmt.Errorf("read MST nodes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c, b sql.RawBytes
		if err := rows.Scan(&c, &b); err != nil {
			return fmt.Errorf("read MST nodes: %w", err)
		}
		if err := cw.PutRaw(c, b); err != nil {
			return err
		}
		*done++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read MST nodes: %w", err)
	}
	return nil
}
