package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/folder"

	_ "modernc.org/sqlite" // the "sqlite" driver
)

// ListFolder reads the outbox of the data folder dir (of one account when
// did is not "") over a read-only connection of its own: it takes no lock,
// so it works while `hearthd serve` or the desktop app owns the folder
// (WAL mode lets a reader in beside the writer), and changes nothing.
func ListFolder(ctx context.Context, dir string, did syntax.DID) ([]Message, error) {
	dbPath := filepath.Join(dir, folder.DatabaseFile)
	if fi, err := os.Stat(dbPath); err != nil || fi.Size() == 0 {
		return nil, errs.Invalid("%s holds no Hearth database (%s is missing or empty)", dir, dbPath)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "query_only(1)")
	db, err := sql.Open("sqlite", "file:"+dbPath+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dbPath, err)
	}
	db.SetMaxOpenConns(1)
	var n int
	err = db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'outbox'").Scan(&n)
	if err == nil && n == 0 {
		err = errs.Invalid("the database in %s has no outbox yet: start this version of Hearth on it once", dir)
	}
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	out, err := list(ctx, db, did)
	return out, errors.Join(err, db.Close())
}
