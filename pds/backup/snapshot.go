package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // the "sqlite" driver
)

// snapshot copies the database at dbPath into out (a new file) with
// VACUUM INTO over a read-only connection of its own. VACUUM INTO runs in
// one read transaction, so out is the database as of the moment it began:
// every transaction committed before then, none after. A process writing
// the database meanwhile is neither blocked nor disturbed (WAL mode).
func snapshot(ctx context.Context, dbPath, out string) error {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+dbPath+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("open %s for the backup: %w", dbPath, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", out); err != nil {
		return errors.Join(fmt.Errorf("copy the database %s: %w", dbPath, err), db.Close())
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("close %s after the backup copy: %w", dbPath, err)
	}
	return nil
}

// blobRow is a blob the snapshot lists.
type blobRow struct {
	did, cid string
	size     int64
}

// contents reads what the manifest says from a snapshot: the accounts with
// their repo heads and counts, and every blob.
func contents(ctx context.Context, path string) ([]AccountSummary, []blobRow, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, nil, fmt.Errorf("open the database snapshot: %w", err)
	}
	defer db.Close() //nolint:errcheck // read-only: nothing to lose
	rows, err := db.QueryContext(ctx, `SELECT a.did, a.handle, COALESCE(r.commit_cid, ''), COALESCE(r.rev, ''),
		(SELECT count(*) FROM record WHERE did = a.did), (SELECT count(*) FROM blob WHERE did = a.did)
		FROM account a LEFT JOIN repo_root r ON r.did = a.did ORDER BY a.did`)
	if err != nil {
		return nil, nil, fmt.Errorf("read the accounts in the snapshot: %w", err)
	}
	accs := []AccountSummary{}
	for rows.Next() {
		var a AccountSummary
		if err := rows.Scan(&a.DID, &a.Handle, &a.Commit, &a.Rev, &a.Records, &a.Blobs); err != nil {
			return nil, nil, errors.Join(fmt.Errorf("read the accounts in the snapshot: %w", err), rows.Close())
		}
		accs = append(accs, a)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, nil, fmt.Errorf("read the accounts in the snapshot: %w", err)
	}
	rows, err = db.QueryContext(ctx, "SELECT did, cid, size FROM blob ORDER BY did, cid")
	if err != nil {
		return nil, nil, fmt.Errorf("read the blobs in the snapshot: %w", err)
	}
	var blobs []blobRow
	for rows.Next() {
		var b blobRow
		if err := rows.Scan(&b.did, &b.cid, &b.size); err != nil {
			return nil, nil, errors.Join(fmt.Errorf("read the blobs in the snapshot: %w", err), rows.Close())
		}
		blobs = append(blobs, b)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, nil, fmt.Errorf("read the blobs in the snapshot: %w", err)
	}
	return accs, blobs, nil
}
