package blobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/blobstore"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/store"
)

// Info describes a stored blob.
type Info struct {
	CID        string
	MimeType   string
	Size       int64
	CreatedAt  time.Time
	Referenced bool
	UsedBy     []string // AT-URIs of records that reference it
}

// Blobs is the blob component.
type Blobs struct {
	db    *store.Store
	files *blobstore.Store
	limit int64
	log   *slog.Logger
}

// The write path's statements, prepared once.
const (
	sqlClearRefs = "DELETE FROM record_blob WHERE did = ? AND collection = ? AND rkey = ?"
	sqlAddRef    = "INSERT OR IGNORE INTO record_blob(did, collection, rkey, blob_cid, rev) VALUES(?, ?, ?, ?, ?)"
	sqlBlobMeta  = "SELECT size, mime FROM blob WHERE did = ? AND cid = ?"
)

// Open opens the blob folder dir (removing temp files a crash left) and
// prepares the write path's statements. limit is the largest accepted blob.
func Open(ctx context.Context, db *store.Store, dir string, limit int64, log *slog.Logger) (*Blobs, error) {
	files, err := blobstore.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := files.CleanTemp(); err != nil {
		return nil, fmt.Errorf("clean blob temp files: %w", err)
	}
	if err := db.Prepare(ctx, sqlClearRefs, sqlAddRef); err != nil {
		return nil, fmt.Errorf("prepare blob statements: %w", err)
	}
	return &Blobs{db: db, files: files, limit: limit, log: log}, nil
}

// Limit is the largest accepted upload in bytes.
func (b *Blobs) Limit() int64 { return b.limit }

// genericMIME reports whether a MIME type says nothing specific.
func genericMIME(m string) bool {
	m = strings.TrimSpace(strings.SplitN(m, ";", 2)[0])
	return m == "" || m == "*/*" || m == "application/octet-stream" || m == "text/plain"
}

func majorType(m string) string {
	return strings.SplitN(strings.SplitN(m, ";", 2)[0], "/", 2)[0]
}

// Upload stores a blob for did. It stays temporary (collectable) until a
// record references it. The caller checks that did is an account here.
func (b *Blobs) Upload(ctx context.Context, did syntax.DID, declaredMIME string, r io.Reader) (*Info, error) {
	up, err := b.files.Receive(r, b.limit)
	if errors.Is(err, blobstore.ErrTooLarge) {
		return nil, errs.Wrap(errs.ErrBlobTooLarge, err, "blob is larger than the %d byte limit", b.limit)
	}
	if err != nil {
		return nil, errs.FromDisk(fmt.Errorf("receive blob: %w", err))
	}
	mime := strings.TrimSpace(strings.SplitN(declaredMIME, ";", 2)[0])
	sniffed := strings.SplitN(up.Sniffed, ";", 2)[0]
	// Like the reference PDS, store the type sniffed from the bytes when it
	// says something, else the declared one; refuse a declared type of
	// another kind than the content (video/mp4 for a PNG, say).
	switch {
	case !genericMIME(sniffed) && !genericMIME(mime) && majorType(sniffed) != majorType(mime):
		b.discard(up)
		return nil, errs.Invalid("declared type %s does not match the content, which looks like %s", mime, sniffed)
	case !genericMIME(sniffed):
		mime = sniffed
	case genericMIME(mime):
		mime = "application/octet-stream"
	}
	if err := b.files.Commit(did.String(), up); err != nil {
		b.discard(up)
		return nil, errs.FromDisk(fmt.Errorf("store blob: %w", err))
	}
	now := time.Now()
	err = b.db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(`INSERT INTO blob(did, cid, mime, size, created_at) VALUES(?, ?, ?, ?, ?)
			ON CONFLICT(did, cid) DO UPDATE SET created_at = excluded.created_at`, did.String(), up.CID.String(), mime, up.Size, now.Unix())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record blob: %w", err)
	}
	return &Info{CID: up.CID.String(), MimeType: mime, Size: up.Size, CreatedAt: now}, nil
}

// discard removes an upload that will not be kept. A temp file left behind
// is removed at the next start (CleanTemp).
func (b *Blobs) discard(up *blobstore.Upload) {
	if err := up.Discard(); err != nil {
		b.log.Warn("remove discarded upload", "err", err)
	}
}

// Open opens a blob of did for reading.
func (b *Blobs) Open(ctx context.Context, did syntax.DID, c cid.Cid) (*os.File, *Info, error) {
	var info Info
	var created int64
	err := b.db.R.QueryRowContext(ctx, "SELECT cid, mime, size, created_at FROM blob WHERE did = ? AND cid = ?", did.String(), c.String()).Scan(&info.CID, &info.MimeType, &info.Size, &created)
	if err == sql.ErrNoRows {
		return nil, nil, errs.New(errs.ErrBlobNotFound, "blob not found: %s", c)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("look up blob: %w", err)
	}
	info.CreatedAt = time.Unix(created, 0)
	f, err := b.files.Open(did.String(), c)
	if errors.Is(err, blobstore.ErrCorrupt) {
		b.log.Error("stored blob is damaged: restore it from a backup", "did", did, "cid", c, "err", err)
		return nil, nil, fmt.Errorf("open blob %s: %w", c, err)
	}
	if err != nil {
		return nil, nil, errs.Wrap(errs.ErrBlobNotFound, err, "blob not found: %s", c)
	}
	return f, &info, nil
}

// Check makes sure every blob in refs was uploaded by did, with the size
// and type the record claims.
func (b *Blobs) Check(ctx context.Context, did syntax.DID, refs []atdata.Blob) error {
	for _, ref := range refs {
		c := cid.Cid(ref.Ref)
		var size int64
		var mime string
		err := b.db.R.QueryRowContext(ctx, sqlBlobMeta, did.String(), c.String()).Scan(&size, &mime)
		if err == sql.ErrNoRows {
			return errs.New(errs.ErrBlobNotFound, "could not find blob %s: upload it first", c)
		}
		if err != nil {
			return fmt.Errorf("check blob %s: %w", c, err)
		}
		if ref.Size >= 0 && ref.Size != size {
			return errs.New(errs.ErrInvalidSize, "blob %s: record says %d bytes, the upload has %d", c, ref.Size, size)
		}
		if ref.MimeType != "" && !strings.EqualFold(ref.MimeType, mime) {
			return errs.New(errs.ErrInvalidMimeType, "blob %s: record says %s, the upload is %s", c, ref.MimeType, mime)
		}
	}
	return nil
}

// Refs writes blob references inside a commit's transaction. It keeps the
// transaction's statements so a batch prepares each once.
type Refs struct {
	tx         *store.Tx
	clear, add *sql.Stmt
	did, rev   string
}

// RefsIn starts writing did's blob references of commit rev in tx.
func (b *Blobs) RefsIn(tx *store.Tx, did syntax.DID, rev string) *Refs {
	return &Refs{tx: tx, did: did.String(), rev: rev}
}

// Clear removes the references of the record at collection/rkey.
func (r *Refs) Clear(collection, rkey string) error {
	if r.clear == nil {
		st, err := r.tx.Stmt(sqlClearRefs)
		if err != nil {
			return fmt.Errorf("clear blob refs: %w", err)
		}
		r.clear = st
	}
	if _, err := r.clear.ExecContext(r.tx.Context(), r.did, collection, rkey); err != nil {
		return fmt.Errorf("clear blob refs: %w", err)
	}
	return nil
}

// Add records that the record at collection/rkey references blob c.
func (r *Refs) Add(collection, rkey string, c cid.Cid) error {
	if r.add == nil {
		st, err := r.tx.Stmt(sqlAddRef)
		if err != nil {
			return fmt.Errorf("store blob ref: %w", err)
		}
		r.add = st
	}
	if _, err := r.add.ExecContext(r.tx.Context(), r.did, collection, rkey, c.String(), r.rev); err != nil {
		return fmt.Errorf("store blob ref: %w", err)
	}
	return nil
}

// ClearAllRefs removes every blob reference of did (before an import
// writes the new repo's).
func (b *Blobs) ClearAllRefs(tx *store.Tx, did syntax.DID) error {
	if _, err := tx.Exec("DELETE FROM record_blob WHERE did = ?", did.String()); err != nil {
		return fmt.Errorf("clear blob refs: %w", err)
	}
	return nil
}

// DeleteAccount removes did's blob rows in tx and, once tx commits, its
// files.
func (b *Blobs) DeleteAccount(tx *store.Tx, did syntax.DID) error {
	for _, q := range []string{"DELETE FROM record_blob WHERE did = ?", "DELETE FROM blob WHERE did = ?"} {
		if _, err := tx.Exec(q, did.String()); err != nil {
			return fmt.Errorf("delete blobs: %w", err)
		}
	}
	tx.OnCommit(func() {
		// A leftover file is only disk space: the rows are gone.
		if err := b.files.DeleteAll(did.String()); err != nil {
			b.log.Warn("delete blob files", "did", did, "err", err)
		}
	})
	return nil
}

// List returns CIDs of blobs did's records reference (only those referenced
// by records written after the rev since, when given), paged by CID.
func (b *Blobs) List(ctx context.Context, did syntax.DID, since, cursor string, limit int) ([]string, string, error) {
	if limit <= 0 || limit > 1000 {
		limit = 500
	}
	q := "SELECT DISTINCT blob_cid FROM record_blob WHERE did = ? AND blob_cid > ?"
	args := []any{did.String(), cursor}
	if since != "" {
		q += " AND rev > ?"
		args = append(args, since)
	}
	q += " ORDER BY blob_cid LIMIT ?"
	args = append(args, limit)
	rows, err := b.db.R.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list blobs: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, "", fmt.Errorf("list blobs: %w", err)
		}
		out = append(out, c)
	}
	next := ""
	if len(out) == limit {
		next = out[len(out)-1]
	}
	return out, next, rows.Err()
}

// Missing is a blob a record references but which is not stored.
type Missing struct {
	CID       string
	RecordURI string
}

// ListMissing lists referenced blobs that were never uploaded (after an
// import, say).
func (b *Blobs) ListMissing(ctx context.Context, did syntax.DID, cursor string, limit int) ([]Missing, string, error) {
	if limit <= 0 || limit > 1000 {
		limit = 500
	}
	rows, err := b.db.R.QueryContext(ctx, `SELECT rb.blob_cid, MIN(rb.collection || '/' || rb.rkey) FROM record_blob rb
		LEFT JOIN blob b ON b.did = rb.did AND b.cid = rb.blob_cid
		WHERE rb.did = ? AND b.cid IS NULL AND rb.blob_cid > ? GROUP BY rb.blob_cid ORDER BY rb.blob_cid LIMIT ?`, did.String(), cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("list missing blobs: %w", err)
	}
	defer rows.Close()
	var out []Missing
	for rows.Next() {
		var m Missing
		var path string
		if err := rows.Scan(&m.CID, &path); err != nil {
			return nil, "", fmt.Errorf("list missing blobs: %w", err)
		}
		m.RecordURI = "at://" + did.String() + "/" + path
		out = append(out, m)
	}
	next := ""
	if len(out) == limit {
		next = out[len(out)-1].CID
	}
	return out, next, rows.Err()
}

// Details lists every stored blob of did with its references (for the GUI).
func (b *Blobs) Details(ctx context.Context, did syntax.DID) ([]Info, error) {
	rows, err := b.db.R.QueryContext(ctx, `SELECT b.cid, b.mime, b.size, b.created_at, COALESCE(group_concat(rb.collection || '/' || rb.rkey, ' '), '')
		FROM blob b LEFT JOIN record_blob rb ON rb.did = b.did AND rb.blob_cid = b.cid
		WHERE b.did = ? GROUP BY b.cid ORDER BY b.created_at DESC`, did.String())
	if err != nil {
		return nil, fmt.Errorf("list blob details: %w", err)
	}
	defer rows.Close()
	var out []Info
	for rows.Next() {
		var info Info
		var created int64
		var refs string
		if err := rows.Scan(&info.CID, &info.MimeType, &info.Size, &created, &refs); err != nil {
			return nil, fmt.Errorf("list blob details: %w", err)
		}
		info.CreatedAt = time.Unix(created, 0)
		for _, p := range strings.Fields(refs) {
			info.UsedBy = append(info.UsedBy, "at://"+did.String()+"/"+p)
		}
		info.Referenced = len(info.UsedBy) > 0
		out = append(out, info)
	}
	return out, rows.Err()
}

// CollectGarbage deletes blobs that no record references and that are
// older than minAge. It returns how many were deleted.
func (b *Blobs) CollectGarbage(ctx context.Context, minAge time.Duration) (int, error) {
	cutoff := time.Now().Add(-minAge).Unix()
	type victim struct{ did, cid string }
	var vs []victim
	err := b.db.Write(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(`SELECT b.did, b.cid FROM blob b WHERE b.created_at <= ?
			AND NOT EXISTS (SELECT 1 FROM record_blob rb WHERE rb.did = b.did AND rb.blob_cid = b.cid)`, cutoff)
		if err != nil {
			return err
		}
		for rows.Next() {
			var v victim
			if err := rows.Scan(&v.did, &v.cid); err != nil {
				rows.Close()
				return err
			}
			vs = append(vs, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, v := range vs {
			if _, err := tx.Exec("DELETE FROM blob WHERE did = ? AND cid = ?", v.did, v.cid); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("collect blobs: %w", err)
	}
	for _, v := range vs {
		if c, err := cid.Decode(v.cid); err == nil {
			// A file left behind is only disk space: its row is gone.
			if err := b.files.Delete(v.did, c); err != nil {
				b.log.Warn("delete collected blob", "did", v.did, "cid", v.cid, "err", err)
			}
		}
	}
	return len(vs), nil
}
