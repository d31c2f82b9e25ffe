package pds

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/apierr"
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

// LatestCommit returns the head commit of did.
func (e *Engine) LatestCommit(ctx context.Context, did string) (*CommitMeta, error) {
	var m CommitMeta
	err := e.db.R.QueryRowContext(ctx, "SELECT commit_cid, rev FROM repo_root WHERE did = ?", did).Scan(&m.CID, &m.Rev)
	if err == sql.ErrNoRows {
		return nil, apierr.New(http.StatusBadRequest, "RepoNotFound", "could not find repo for DID: %s", did)
	}
	if err != nil {
		return nil, fmt.Errorf("read head: %w", err)
	}
	return &m, nil
}

// RepoStatus is the hosting status of a repo.
type RepoStatus struct {
	DID    string
	Active bool
	Status string
	Rev    string
	Head   string
}

// RepoStatus returns one repo's status.
func (e *Engine) RepoStatus(ctx context.Context, did string) (*RepoStatus, error) {
	acc, err := e.lookup(ctx, e.db.R, "did = ?", did)
	if err == errNoAccount {
		return nil, apierr.New(http.StatusBadRequest, "RepoNotFound", "could not find repo for DID: %s", did)
	}
	if err != nil {
		return nil, err
	}
	st := &RepoStatus{DID: did, Active: acc.Status == StatusActive, Status: acc.Status}
	if m, err := e.LatestCommit(ctx, did); err == nil {
		st.Rev, st.Head = m.Rev, m.CID
	}
	return st, nil
}

// ListRepos lists hosted repos, paged by DID.
func (e *Engine) ListRepos(ctx context.Context, cursor string, limit int) ([]RepoStatus, string, error) {
	if limit <= 0 || limit > 1000 {
		limit = 500
	}
	rows, err := e.db.R.QueryContext(ctx, `SELECT a.did, a.status, r.rev, r.commit_cid FROM account a JOIN repo_root r ON r.did = a.did
		WHERE a.did > ? ORDER BY a.did LIMIT ?`, cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("list repos: %w", err)
	}
	defer rows.Close()
	var out []RepoStatus
	for rows.Next() {
		var s RepoStatus
		if err := rows.Scan(&s.DID, &s.Status, &s.Rev, &s.Head); err != nil {
			return nil, "", err
		}
		s.Active = s.Status == StatusActive
		out = append(out, s)
	}
	next := ""
	if len(out) == limit {
		next = out[len(out)-1].DID
	}
	return out, next, rows.Err()
}

// snapshot holds the repo lock just long enough to encode the MST nodes and
// open a read transaction on the same state; records are then streamed from
// that transaction without blocking writers.
func (e *Engine) snapshot(ctx context.Context, did string, fn func(r *actorrepo.Repo) error) (*sql.Tx, actorrepo.Head, error) {
	a := e.acct(did)
	a.mu.Lock()
	defer a.mu.Unlock()
	r, err := e.loadRepo(ctx, a, did)
	if err != nil {
		return nil, actorrepo.Head{}, err
	}
	tx, err := e.db.R.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, actorrepo.Head{}, fmt.Errorf("begin read: %w", err)
	}
	var rev string
	if err := tx.QueryRowContext(ctx, "SELECT rev FROM repo_root WHERE did = ?", did).Scan(&rev); err != nil {
		tx.Rollback()
		return nil, actorrepo.Head{}, fmt.Errorf("read head: %w", err)
	}
	head := *r.Head()
	if rev != head.Rev() {
		tx.Rollback()
		a.repo = nil
		return nil, actorrepo.Head{}, fmt.Errorf("repo %s changed underneath; try again", did)
	}
	if err := fn(r); err != nil {
		tx.Rollback()
		return nil, actorrepo.Head{}, err
	}
	return tx, head, nil
}

// ExportRepo writes did's whole repo (or, with since, the commit, every MST
// node and the records written after that rev) as a CAR to w.
func (e *Engine) ExportRepo(ctx context.Context, did, since string, w io.Writer, progress Progress) error {
	if _, err := e.lookup(ctx, e.db.R, "did = ?", did); err == errNoAccount {
		return apierr.New(http.StatusBadRequest, "RepoNotFound", "could not find repo for DID: %s", did)
	}
	var nodes []actorrepo.Block
	tx, head, err := e.snapshot(ctx, did, func(r *actorrepo.Repo) error {
		var err error
		nodes, err = r.Nodes()
		return err
	})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	recordsQuery := "SELECT cid, bytes FROM record WHERE did = ?"
	countQuery := "SELECT count(*) FROM record WHERE did = ?"
	args := []any{did}
	if since != "" {
		recordsQuery += " AND rev > ?"
		countQuery += " AND rev > ?"
		args = append(args, since)
	}
	var total int64
	tx.QueryRowContext(ctx, countQuery, args...).Scan(&total)
	total += int64(len(nodes)) + 1
	bw := bufio.NewWriterSize(w, 256<<10)
	defer bw.Flush()
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
	rows, err := tx.QueryContext(ctx, recordsQuery, args...)
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
			return err
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
		return err
	}
	if progress != nil {
		progress(ProgressEvent{Phase: "export", Done: total, Total: total})
	}
	return bw.Flush()
}

// RecordProof writes a CAR proving a record's presence (or absence): the
// commit, the MST path and the record block if it exists.
func (e *Engine) RecordProof(ctx context.Context, did, collection, rkey string, w io.Writer) error {
	var proof []actorrepo.Block
	var recCID *cid.Cid
	tx, head, err := e.snapshot(ctx, did, func(r *actorrepo.Repo) error {
		var err error
		path := collection + "/" + rkey
		if proof, err = r.ProofNodes(path); err != nil {
			return err
		}
		recCID, err = r.Get(path)
		return err
	})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	blocks := append([]actorrepo.Block{{CID: head.CID, Data: head.Bytes}}, proof...)
	if recCID != nil {
		var b []byte
		if err := tx.QueryRowContext(ctx, "SELECT bytes FROM record WHERE did = ? AND collection = ? AND rkey = ?", did, collection, rkey).Scan(&b); err != nil {
			return fmt.Errorf("read record: %w", err)
		}
		blocks = append(blocks, actorrepo.Block{CID: *recCID, Data: b})
	}
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
func (e *Engine) GetBlocks(ctx context.Context, did string, cids []string, w io.Writer) error {
	want := map[string]bool{}
	for _, s := range cids {
		c, err := cid.Decode(s)
		if err != nil {
			return apierr.Invalid("invalid CID %q", s)
		}
		want[c.String()] = true
	}
	found := map[string]actorrepo.Block{}
	paths := map[string]string{} // record CID -> a path holding it
	tx, head, err := e.snapshot(ctx, did, func(r *actorrepo.Repo) error {
		nodes, err := r.Nodes()
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if want[n.CID.String()] {
				found[n.CID.String()] = n
			}
		}
		return r.Walk(func(path string, c cid.Cid) error {
			if s := c.String(); want[s] {
				paths[s] = path
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if want[head.CID.String()] {
		found[head.CID.String()] = actorrepo.Block{CID: head.CID, Data: head.Bytes}
	}
	for s := range want {
		if _, ok := found[s]; ok {
			continue
		}
		path, ok := paths[s]
		if !ok {
			return apierr.New(http.StatusBadRequest, "BlockNotFound", "block not found: %s", s)
		}
		col, rkey, _ := strings.Cut(path, "/")
		var b []byte
		err := tx.QueryRowContext(ctx, "SELECT bytes FROM record WHERE did = ? AND collection = ? AND rkey = ?", did, col, rkey).Scan(&b)
		if err == sql.ErrNoRows {
			return apierr.New(http.StatusBadRequest, "BlockNotFound", "block not found: %s", s)
		}
		if err != nil {
			return err
		}
		c, _ := cid.Decode(s)
		found[s] = actorrepo.Block{CID: c, Data: b}
	}
	cw, err := actorrepo.NewCARWriter(w, head.CID)
	if err != nil {
		return err
	}
	for _, s := range cids {
		c, _ := cid.Decode(s)
		if b, ok := found[c.String()]; ok {
			if err := cw.Put(b); err != nil {
				return err
			}
			delete(found, c.String())
		}
	}
	return nil
}
