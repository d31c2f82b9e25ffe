package store

import (
	"context"
	"fmt"
)

// IntegrityCheck runs SQLite's full integrity_check (every page, index and
// constraint) and returns what it found wrong; none means the database is
// sound. It reads the whole file, so it is for `verify`, not for start-up.
func (s *Store) IntegrityCheck(ctx context.Context) ([]string, error) {
	rows, err := s.R.QueryContext(ctx, "PRAGMA integrity_check(50)")
	if err != nil {
		return nil, fmt.Errorf("integrity check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, fmt.Errorf("integrity check: %w", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("integrity check: %w", err)
	}
	return problems, nil
}
