package pds

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/apierr"
	"github.com/hearth-pds/hearth/pds/blobstore"
)

// BlobInfo describes a stored blob.
type BlobInfo struct {
	CID        string
	MimeType   string
	Size       int64
	CreatedAt  time.Time
	Referenced bool
	UsedBy     []string // AT-URIs of records that reference it
}

// genericMIME reports whether a MIME type says nothing specific.
func genericMIME(m string) bool {
	m = strings.TrimSpace(strings.SplitN(m, ";", 2)[0])
	return m == "" || m == "*/*" || m == "application/octet-stream" || m == "text/plain"
}

func majorType(m string) string {
	return strings.SplitN(strings.SplitN(m, ";", 2)[0], "/", 2)[0]
}

// UploadBlob stores a blob for did. It stays temporary (collectable) until a
// record references it.
func (e *Engine) UploadBlob(ctx context.Context, did, declaredMIME string, r io.Reader) (*BlobInfo, error) {
	if _, err := e.lookup(ctx, e.db.R, "did = ?", did); err != nil {
		return nil, err
	}
	up, err := e.blobs.Receive(r, e.cfg.BlobLimit)
	if errors.Is(err, blobstore.ErrTooLarge) {
		return nil, apierr.New(http.StatusRequestEntityTooLarge, "BlobTooLarge", "blob is larger than the %d byte limit", e.cfg.BlobLimit)
	}
	if err != nil {
		return nil, err
	}
	mime := strings.TrimSpace(strings.SplitN(declaredMIME, ";", 2)[0])
	sniffed := strings.SplitN(up.Sniffed, ";", 2)[0]
	// Like the reference PDS, store the type sniffed from the bytes when it
	// says something, else the declared one; refuse a declared type of
	// another kind than the content (video/mp4 for a PNG, say).
	switch {
	case !genericMIME(sniffed) && !genericMIME(mime) && majorType(sniffed) != majorType(mime):
		up.Discard()
		return nil, apierr.Invalid("declared type %s does not match the content, which looks like %s", mime, sniffed)
	case !genericMIME(sniffed):
		mime = sniffed
	case genericMIME(mime):
		mime = "application/octet-stream"
	}
	if err := e.blobs.Commit(did, up); err != nil {
		up.Discard()
		return nil, err
	}
	now := time.Now()
	err = e.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO blob(did, cid, mime, size, created_at) VALUES(?, ?, ?, ?, ?)
			ON CONFLICT(did, cid) DO UPDATE SET created_at = excluded.created_at`, did, up.CID.String(), mime, up.Size, now.Unix())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record blob: %w", err)
	}
	return &BlobInfo{CID: up.CID.String(), MimeType: mime, Size: up.Size, CreatedAt: now}, nil
}

// OpenBlob opens a blob of did for reading.
func (e *Engine) OpenBlob(ctx context.Context, did, cidStr string) (*os.File, *BlobInfo, error) {
	c, err := cid.Decode(cidStr)
	if err != nil {
		return nil, nil, apierr.Invalid("invalid blob CID %q", cidStr)
	}
	var info BlobInfo
	var created int64
	err = e.db.R.QueryRowContext(ctx, "SELECT cid, mime, size, created_at FROM blob WHERE did = ? AND cid = ?", did, c.String()).Scan(&info.CID, &info.MimeType, &info.Size, &created)
	if err == sql.ErrNoRows {
		return nil, nil, apierr.New(http.StatusBadRequest, "BlobNotFound", "blob not found: %s", cidStr)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("look up blob: %w", err)
	}
	info.CreatedAt = time.Unix(created, 0)
	f, err := e.blobs.Open(did, c)
	if err != nil {
		return nil, nil, apierr.Wrap(err, http.StatusBadRequest, "BlobNotFound", "blob not found: %s", cidStr)
	}
	return f, &info, nil
}

// ListBlobs returns blob CIDs of did (optionally only those referenced by
// records newer than since), paged by CID.
func (e *Engine) ListBlobs(ctx context.Context, did, since, cursor string, limit int) ([]string, string, error) {
	if limit <= 0 || limit > 1000 {
		limit = 500
	}
	q := "SELECT DISTINCT rb.blob_cid FROM record_blob rb"
	args := []any{}
	if since != "" {
		q += " JOIN record r ON r.did = rb.did AND r.collection = rb.collection AND r.rkey = rb.rkey AND r.rev > ?"
		args = append(args, since)
	}
	q += " WHERE rb.did = ? AND rb.blob_cid > ? ORDER BY rb.blob_cid LIMIT ?"
	args = append(args, did, cursor, limit)
	rows, err := e.db.R.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list blobs: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		rows.Scan(&c)
		out = append(out, c)
	}
	next := ""
	if len(out) == limit {
		next = out[len(out)-1]
	}
	return out, next, rows.Err()
}

// MissingBlob is a blob a record references but which is not stored.
type MissingBlob struct {
	CID       string
	RecordURI string
}

// ListMissingBlobs lists referenced blobs that were never uploaded (after an
// import, say).
func (e *Engine) ListMissingBlobs(ctx context.Context, did, cursor string, limit int) ([]MissingBlob, string, error) {
	if limit <= 0 || limit > 1000 {
		limit = 500
	}
	rows, err := e.db.R.QueryContext(ctx, `SELECT rb.blob_cid, MIN(rb.collection || '/' || rb.rkey) FROM record_blob rb
		LEFT JOIN blob b ON b.did = rb.did AND b.cid = rb.blob_cid
		WHERE rb.did = ? AND b.cid IS NULL AND rb.blob_cid > ? GROUP BY rb.blob_cid ORDER BY rb.blob_cid LIMIT ?`, did, cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("list missing blobs: %w", err)
	}
	defer rows.Close()
	var out []MissingBlob
	for rows.Next() {
		var m MissingBlob
		var path string
		rows.Scan(&m.CID, &path)
		m.RecordURI = "at://" + did + "/" + path
		out = append(out, m)
	}
	next := ""
	if len(out) == limit {
		next = out[len(out)-1].CID
	}
	return out, next, rows.Err()
}

// BlobDetails lists every stored blob of did with its references (for the GUI).
func (e *Engine) BlobDetails(ctx context.Context, did string) ([]BlobInfo, error) {
	rows, err := e.db.R.QueryContext(ctx, `SELECT b.cid, b.mime, b.size, b.created_at, COALESCE(group_concat(rb.collection || '/' || rb.rkey, ' '), '')
		FROM blob b LEFT JOIN record_blob rb ON rb.did = b.did AND rb.blob_cid = b.cid
		WHERE b.did = ? GROUP BY b.cid ORDER BY b.created_at DESC`, did)
	if err != nil {
		return nil, fmt.Errorf("list blob details: %w", err)
	}
	defer rows.Close()
	var out []BlobInfo
	for rows.Next() {
		var b BlobInfo
		var created int64
		var refs string
		if err := rows.Scan(&b.CID, &b.MimeType, &b.Size, &created, &refs); err != nil {
			return nil, err
		}
		b.CreatedAt = time.Unix(created, 0)
		for _, p := range strings.Fields(refs) {
			b.UsedBy = append(b.UsedBy, "at://"+did+"/"+p)
		}
		b.Referenced = len(b.UsedBy) > 0
		out = append(out, b)
	}
	return out, rows.Err()
}

// CollectGarbageBlobs deletes blobs that no record references and that are
// older than minAge. It returns how many were deleted.
func (e *Engine) CollectGarbageBlobs(ctx context.Context, minAge time.Duration) (int, error) {
	cutoff := time.Now().Add(-minAge).Unix()
	type victim struct{ did, cid string }
	var vs []victim
	err := e.db.Write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT b.did, b.cid FROM blob b WHERE b.created_at <= ?
			AND NOT EXISTS (SELECT 1 FROM record_blob rb WHERE rb.did = b.did AND rb.blob_cid = b.cid)`, cutoff)
		if err != nil {
			return err
		}
		for rows.Next() {
			var v victim
			rows.Scan(&v.did, &v.cid)
			vs = append(vs, v)
		}
		rows.Close()
		for _, v := range vs {
			if _, err := tx.ExecContext(ctx, "DELETE FROM blob WHERE did = ? AND cid = ?", v.did, v.cid); err != nil {
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
			e.blobs.Delete(v.did, c)
		}
	}
	return len(vs), nil
}
