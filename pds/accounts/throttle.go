package accounts

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/hearth-pds/hearth/pds/store"
)

// failureStore keeps the login throttle's failures in the login_failure
// table (auth.FailureStore).
type failureStore struct{ db *store.Store }

func (f failureStore) Failures(ctx context.Context, key string, since time.Time) (int, time.Time, error) {
	var n int
	var oldest sql.NullInt64
	err := f.db.R.QueryRowContext(ctx, "SELECT count(*), min(at) FROM login_failure WHERE key = ? AND at >= ?", key, since.UnixMilli()).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count login failures: %w", err)
	}
	return n, time.UnixMilli(oldest.Int64), nil
}

func (f failureStore) AddFailure(ctx context.Context, at time.Time, keys ...string) error {
	return f.db.Write(ctx, func(tx *store.Tx) error {
		for _, k := range keys {
			if _, err := tx.Exec("INSERT INTO login_failure(key, at) VALUES(?, ?)", k, at.UnixMilli()); err != nil {
				return fmt.Errorf("store login failure: %w", err)
			}
		}
		return nil
	})
}

func (f failureStore) ClearFailures(ctx context.Context, key string) error {
	return f.db.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec("DELETE FROM login_failure WHERE key = ?", key); err != nil {
			return fmt.Errorf("clear login failures: %w", err)
		}
		return nil
	})
}

// PruneLoginFailures forgets failures older than every throttle window.
func (a *Accounts) PruneLoginFailures(ctx context.Context) error {
	before := a.throttle.PruneBefore()
	return a.db.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec("DELETE FROM login_failure WHERE at < ?", before.UnixMilli()); err != nil {
			return fmt.Errorf("prune login failures: %w", err)
		}
		return nil
	})
}
