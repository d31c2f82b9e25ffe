package repos

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"

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

// snapshot opens a streamed read transaction on did's repo and runs fn on
// the warm tree in the same state; records are then read from that
// transaction without blocking writers. The caller rolls it back.
//
// The account's write lock is never held while waiting: the transaction
// (and its read connection) is taken first, outside the lock. Under the
// lock the transaction's first read fixes its snapshot (no write of this
// repo can be in flight then, as writes hold the lock until they commit),
// so the tree and the snapshot agree; a cold tree is loaded from the
// transaction itself rather than from another connection.
//
// streamed says the caller writes to a client while it holds the
// transaction (an export), so it takes one of the store's few streamed-read
// slots; short reads (getBlocks, which buffers, and small proofs) do not.
func (r *Repos) snapshot(ctx context.Context, did syntax.DID, streamed bool, fn func(repo *actorrepo.Repo) error) (*store.Tx, actorrepo.Head, error) {
	open := r.db.Snapshot
	if streamed {
		open = r.db.StreamSnapshot
	}
	tx, err := open(ctx)
	if err != nil {
		return nil, actorrepo.Head{}, err
	}
	head, err := r.underLock(tx, did, fn)
	if err != nil {
		_ = tx.Rollback() // read-only: nothing to undo; err is the one to report
		return nil, actorrepo.Head{}, err
	}
	return tx, head, nil
}

// underLock is snapshot's short critical section.
func (r *Repos) underLock(tx *store.Tx, did syntax.DID, fn func(repo *actorrepo.Repo) error) (actorrepo.Head, error) {
	w := r.warm(did)
	w.mu.Lock()
	defer w.mu.Unlock()
	var headBytes []byte
	if err := tx.QueryRow(sqlHeadBytes, did.String()).Scan(&headBytes); err != nil {
		if err == sql.ErrNoRows {
			return actorrepo.Head{}, errs.RepoNotFound(did.String())
		}
		return actorrepo.Head{}, fmt.Errorf("read repo head: %w", err)
	}
	if w.repo == nil {
		repo, err := loadIn(tx, did, headBytes)
		if err != nil {
			return actorrepo.Head{}, err
		}
		w.repo = repo
	}
	stored, err := actorrepo.ParseHead(headBytes)
	if err != nil {
		return actorrepo.Head{}, err
	}
	head := *w.repo.Head()
	if stored.Rev() != head.Rev() {
		w.repo = nil
		return actorrepo.Head{}, fmt.Errorf("repo %s changed underneath; try again", did)
	}
	if err := fn(w.repo); err != nil {
		return actorrepo.Head{}, err
	}
	return head, nil
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
	var nodes []actorrepo.Block
	tx, head, err := r.snapshot(ctx, did, streamed, func(repo *actorrepo.Repo) error {
		var err error
		nodes, err = repo.Nodes()
		return err
	})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	recordsQuery := "SELECT cid, bytes FROM record WHERE did = ?"
	countQuery := "SELECT count(*) FROM record WHERE did = ?"
	args := []any{did.String()}
	if since != "" {
		recordsQuery += " AND rev > ?"
		countQuery += " AND rev > ?"
		args = append(args, since)
	}
	var total int64
	if err := tx.QueryRow(countQuery, args...).Scan(&total); err != nil {
		return fmt.Errorf("count records: %w", err)
	}
	total += int64(len(nodes)) + 1
	bw := bufio.NewWriterSize(w, 256<<10)
	cw, err := actorrepo.NewCARWriter(bw, head.CID)
	if err != nil {
		return err
	}
	if err := cw.Put(actorrepo.Block{CID: head.CID, Data: head.Bytes}); err != nil {
		return err
	}
	done := int64(1)
	for _, n := range nodes {
		if err := cw.Put(n); err != nil {
			return err
		}
		done++
	}
	rows, err := tx.Query(recordsQuery, args...)
	if err != nil {
		return fmt.Errorf("read records: %w", err)
	}
	defer rows.Close()
	// Records with equal content share a block. Keys are binary CIDs; the
	// usual 36-byte ones (CIDv1, sha2-256) go in a map that does not
	// allocate per key.
	seen36 := make(map[[36]byte]struct{}, total)
	seenOther := map[string]struct{}{}
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
		if len(cidBuf) == 36 {
			k := [36]byte(cidBuf)
			if _, dup := seen36[k]; dup {
				continue
			}
			seen36[k] = struct{}{}
		} else {
			if _, dup := seenOther[string(cidBuf)]; dup {
				continue
			}
			seenOther[string(cidBuf)] = struct{}{}
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
	tx, head, err := r.snapshot(ctx, did, false, func(repo *actorrepo.Repo) error {
		var err error
		if proof, err = repo.ProofNodes(path); err != nil {
			return err
		}
		recCID, err = repo.Get(path)
		return err
	})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
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
	paths := map[string]string{} // record CID -> a path holding it
	tx, head, err := r.snapshot(ctx, did, false, func(repo *actorrepo.Repo) error {
		nodes, err := repo.Nodes()
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if want[n.CID.String()] {
				found[n.CID.String()] = n
			}
		}
		return repo.Walk(func(path string, c cid.Cid) error {
			if s := c.String(); want[s] {
				paths[s] = path
			}
			return nil
		})
	})
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
		path, ok := paths[s]
		if !ok {
			return errs.New(errs.ErrBlockNotFound, "block not found: %s", s)
		}
		col, rkey, _ := strings.Cut(path, "/")
		var b []byte
		err := tx.QueryRow("SELECT bytes FROM record WHERE did = ? AND collection = ? AND rkey = ?", did.String(), col, rkey).Scan(&b)
		if err == sql.ErrNoRows {
			return errs.New(errs.ErrBlockNotFound, "block not found: %s", s)
		}
		if err != nil {
			return fmt.Errorf("read record: %w", err)
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
