package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the SQLite database of one data dir.
type Store struct {
	// W is the single writer connection; use Write for transactions.
	W *sql.DB
	// R is a pool of read-only connections.
	R *sql.DB

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt

	ckpt *checkpointer
}

func dsnQuery() url.Values {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "cache_size(-16000)")
	return q
}

func dsn(path string, readOnly bool) string {
	q := dsnQuery()
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the database at path and migrates it to the
// newest schema.
func Open(ctx context.Context, path string) (*Store, error) {
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open database %s: %w", path, err), w.Close())
	}
	s := &Store{W: w}
	if err := s.migrate(ctx); err != nil {
		return nil, errors.Join(err, w.Close())
	}
	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open database %s for reading: %w", path, err), w.Close())
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(4)
	s.R = r
	if s.ckpt, err = startCheckpointer(path); err != nil {
		return nil, errors.Join(err, r.Close(), w.Close())
	}
	return s, nil
}

// CheckpointStats reports how many background checkpoints ran and the last
// error one met (nil if none).
func (s *Store) CheckpointStats() (runs int64, lastErr error) {
	if s.ckpt == nil {
		return 0, nil
	}
	err, _ := s.ckpt.lastErr.Load().(error)
	return s.ckpt.runs.Load(), err
}

// Close closes the prepared statements, the checkpointer and both pools,
// and reports every failure.
func (s *Store) Close() error {
	var errs []error
	s.stmtMu.Lock()
	for q, st := range s.stmts {
		if err := st.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close statement %q: %w", q, err))
		}
	}
	s.stmts = nil
	s.stmtMu.Unlock()
	if s.ckpt != nil {
		if err := s.ckpt.close(); err != nil {
			errs = append(errs, fmt.Errorf("close checkpointer: %w", err))
		}
	}
	if s.R != nil {
		if err := s.R.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close readers: %w", err))
		}
	}
	if err := s.W.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close writer: %w", err))
	}
	return errors.Join(errs...)
}

// Prepare prepares hot write statements once on the writer connection. It
// must be called outside any write transaction (the writer pool has a
// single connection).
func (s *Store) Prepare(ctx context.Context, queries ...string) error {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	for _, q := range queries {
		if _, ok := s.stmts[q]; ok {
			continue
		}
		st, err := s.W.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q, err)
		}
		s.stmts[q] = st
	}
	return nil
}

// prepared returns the statement Prepare made for query, or nil.
func (s *Store) prepared(query string) *sql.Stmt {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	return s.stmts[query]
}

// TxStmt returns query's statement bound to tx: the one Prepare made, or a
// new one that lives as long as tx.
func (s *Store) TxStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if st := s.prepared(query); st != nil {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, query)
}

// Exec runs query inside tx, with its prepared statement when Prepare made
// one (a plain Exec otherwise).
func (s *Store) Exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := s.prepared(query); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// QueryRow runs a one-row query inside tx, with its prepared statement when
// Prepare made one.
func (s *Store) QueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := s.prepared(query); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// Write runs fn in one write transaction (BEGIN IMMEDIATE) and commits it.
// The commit is durable (synchronous=FULL) when Write returns nil.
func (s *Store) Write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin write: %w", err)
	}
	defer func() {
		// A panic in fn must not leave the only writer connection inside
		// a transaction, or every later write would wait forever.
		if p := recover(); p != nil {
			_ = tx.Rollback() // the panic goes on; it is the error to see
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if s.ckpt != nil {
		s.ckpt.committed()
	}
	return nil
}

// Read runs fn in one read transaction, giving it a consistent snapshot.
func (s *Store) Read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.R.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	// Ending a read-only transaction undoes nothing: a failure here cannot
	// change what fn read.
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		if !ok {
			return nil, fmt.Errorf("migration %q: name must be NNNN_description.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("migration %q: bad version: %w", name, err)
		}
		b, err := migrationFiles.ReadFile("migrations/" + name)
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", name, err)
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %q: expected version %d", m.name, i+1)
		}
	}
	return out, nil
}

// SchemaVersion reports the schema version stored in the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.W.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	cur, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if cur > len(ms) {
		return fmt.Errorf("database schema version %d is newer than this build knows (%d): upgrade Hearth", cur, len(ms))
	}
	for _, m := range ms[cur:] {
		err := s.Write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// GetSetting reads a server setting; ok is false when unset.
func (s *Store) GetSetting(ctx context.Context, key string) (val []byte, ok bool, err error) {
	err = s.R.QueryRowContext(ctx, "SELECT value FROM setting WHERE key = ?", key).Scan(&val)
	if err == sql.ErrNoRows {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read setting %s: %w", key, err)
	}
	return val, true, nil
}

// PutSetting writes a server setting.
func (s *Store) PutSetting(ctx context.Context, key string, val []byte) error {
	return s.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO setting(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, val)
		if err != nil {
			return fmt.Errorf("write setting %s: %w", key, err)
		}
		return nil
	})
}
