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

	"github.com/hearth-pds/hearth/pds/errs"
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

	group *group // queued writes, committed together (group.go)
	ckpt  *checkpointer
	long  *longReads // slots for streamed read transactions
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

// WriterCacheKiB is the writer connection's page cache, in KiB.
const WriterCacheKiB = 2000

func dsn(path string, readOnly bool) string {
	q := dsnQuery()
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
		// The writer's page cache is small: SQLite scans the whole hash
		// table of a connection's page cache at the end of every write
		// transaction (sqlite3PcacheTruncate from pager_end_transaction), so
		// a big cache cost each commit time in proportion to its size, 11-17 %
		// of a createRecord's CPU with 16 MB once MST nodes were read
		// through it. The pages a commit touches (the paths of the record,
		// node and event b-trees) fit in 2 MB; the rest comes from the OS's
		// file cache.
		q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -WriterCacheKiB))
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
	s := &Store{W: w, group: newGroup(), long: newLongReads(MaxLongReads, LongReadWait)}
	if err := s.migrate(ctx); err != nil {
		return nil, errors.Join(err, w.Close())
	}
	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open database %s for reading: %w", path, err), w.Close())
	}
	r.SetMaxOpenConns(ReadConns)
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

// Tx is one transaction. Every write that must be atomic across the
// engine's components (a commit's records, blob references, repo root and
// event) runs in one Tx that each component is handed. Statements go
// through the prepared-statement cache when Prepare made one for them.
type Tx struct {
	tx       *sql.Tx
	ctx      context.Context
	s        *Store
	onCommit []func()
	release  func() // gives back a StreamSnapshot's slot
}

// Context is the context the transaction runs under.
func (t *Tx) Context() context.Context { return t.ctx }

// Stmt returns query's statement bound to the transaction: the one Prepare
// made, or a new one that lives as long as the transaction.
func (t *Tx) Stmt(query string) (*sql.Stmt, error) {
	if st := t.s.prepared(query); st != nil {
		return t.tx.StmtContext(t.ctx, st), nil
	}
	return t.tx.PrepareContext(t.ctx, query)
}

// Exec runs a statement.
func (t *Tx) Exec(query string, args ...any) (sql.Result, error) {
	if st := t.s.prepared(query); st != nil {
		return t.tx.StmtContext(t.ctx, st).ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, query, args...)
}

// QueryRow runs a one-row query.
func (t *Tx) QueryRow(query string, args ...any) *sql.Row {
	if st := t.s.prepared(query); st != nil {
		return t.tx.StmtContext(t.ctx, st).QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, query, args...)
}

// Query runs a query.
func (t *Tx) Query(query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(t.ctx, query, args...)
}

// OnCommit runs fn after the transaction commits (never if it rolls back),
// in the order registered: how events reach subscribers only once they are
// durable.
func (t *Tx) OnCommit(fn func()) { t.onCommit = append(t.onCommit, fn) }

// Rollback ends a read transaction that Snapshot or StreamSnapshot opened.
func (t *Tx) Rollback() error {
	err := t.tx.Rollback()
	if t.release != nil {
		t.release()
	}
	return err
}

// Write runs fn in a write transaction (BEGIN IMMEDIATE) and commits it,
// together with the functions of concurrent Writes (group.go): fn's
// changes are undone alone if it fails. The commit is durable
// (synchronous=FULL) when Write returns nil; the OnCommit functions have
// run by then. Statements run to their end even if ctx is cancelled.
func (s *Store) Write(ctx context.Context, fn func(tx *Tx) error) error {
	return errs.FromDisk(s.write(ctx, fn))
}

func (s *Store) write(ctx context.Context, fn func(tx *Tx) error) error {
	return s.groupWrite(ctx, fn)
}

// Read runs fn in one read transaction, giving it a consistent snapshot.
func (s *Store) Read(ctx context.Context, fn func(tx *Tx) error) error {
	tx, err := s.Snapshot(ctx)
	if err != nil {
		return err
	}
	// Ending a read-only transaction undoes nothing: a failure here cannot
	// change what fn read.
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// Snapshot opens a read transaction the caller must Rollback: a consistent
// view that outlives the function that opened it (a streamed export).
func (s *Store) Snapshot(ctx context.Context) (*Tx, error) {
	sqlTx, err := s.R.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", err)
	}
	return &Tx{tx: sqlTx, ctx: ctx, s: s}, nil
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
		err := s.Write(ctx, func(tx *Tx) error {
			if _, err := tx.Exec(m.sql); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
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

// Settings are a small key-value table for values that belong to no
// component's own table (the session-signing secret, per-account markers).

const (
	sqlGetSetting    = "SELECT value FROM setting WHERE key = ?"
	sqlPutSetting    = "INSERT INTO setting(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
	sqlDeleteSetting = "DELETE FROM setting WHERE key = ?"
)

func scanSetting(row *sql.Row, key string) ([]byte, bool, error) {
	var val []byte
	err := row.Scan(&val)
	if err == sql.ErrNoRows {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read setting %s: %w", key, err)
	}
	return val, true, nil
}

// GetSetting reads a setting; ok is false when unset.
func (s *Store) GetSetting(ctx context.Context, key string) (val []byte, ok bool, err error) {
	return scanSetting(s.R.QueryRowContext(ctx, sqlGetSetting, key), key)
}

// PutSetting writes a setting.
func (s *Store) PutSetting(ctx context.Context, key string, val []byte) error {
	return s.Write(ctx, func(tx *Tx) error { return tx.PutSetting(key, val) })
}

// Setting reads a setting inside the transaction.
func (t *Tx) Setting(key string) (val []byte, ok bool, err error) {
	return scanSetting(t.QueryRow(sqlGetSetting, key), key)
}

// PutSetting writes a setting inside the transaction.
func (t *Tx) PutSetting(key string, val []byte) error {
	if _, err := t.Exec(sqlPutSetting, key, val); err != nil {
		return fmt.Errorf("write setting %s: %w", key, err)
	}
	return nil
}

// DeleteSetting removes a setting and reports whether it was set.
func (t *Tx) DeleteSetting(key string) (bool, error) {
	res, err := t.Exec(sqlDeleteSetting, key)
	if err != nil {
		return false, fmt.Errorf("delete setting %s: %w", key, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// QuickCheck runs SQLite's PRAGMA quick_check (the structure of every
// table and index page, without checking that indexes match their tables)
// and returns its complaints, nil when the database is sound.
func (s *Store) QuickCheck(ctx context.Context) ([]string, error) {
	rows, err := s.W.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return nil, fmt.Errorf("quick_check: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, fmt.Errorf("quick_check: %w", err)
		}
		if line != "ok" {
			out = append(out, line)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("quick_check: %w", err)
	}
	return out, nil
}
