package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
)

// Group commit: concurrent Write calls share one transaction and one fsync.
//
// Every Write queues its function. Whoever holds the lead (one at a time)
// takes everything queued, up to MaxGroup functions, and runs them in order
// in one transaction on the writer connection, each inside its own
// SAVEPOINT: a function that fails is rolled back to its savepoint alone
// and gets its error, the others go on. Then one COMMIT makes the group
// durable (synchronous=FULL: one fsync of the WAL), and only then is each
// caller told it succeeded and are its OnCommit functions run, in queue
// order (the order of the commits in the database). If the COMMIT fails,
// every function of the group gets that error: nothing of it is stored.
// While a group commits, the next Writes queue and go together in the next
// group, so under concurrent writers the fsyncs are shared, and a lone
// writer pays nothing more than a savepoint.
//
// A caller whose function was taken by another leader waits for its result;
// a caller still queued when the lead frees takes it. The functions run on
// the leader's goroutine, with their caller's context for values only: a
// cancelled caller must not interrupt the shared transaction (SQLite rolls
// back the whole transaction when a write statement is interrupted), so
// statements run to their end, as they did when each write was its own
// transaction and a cancelled caller's rollback came after its statement.

// MaxGroup is the most functions one group commit holds.
const MaxGroup = 64

type writeReq struct {
	ctx  context.Context
	fn   func(tx *Tx) error
	done chan struct{}
	err  error
	// panicked is a panic of fn, handed back to its caller's goroutine.
	panicked any
	onCommit []func()
}

type group struct {
	lead  chan struct{} // holding its one slot is the lead
	mu    sync.Mutex
	queue []*writeReq

	commits atomic.Int64 // transactions committed
	writes  atomic.Int64 // functions committed in them
}

// GroupStats reports how many write transactions committed and how many
// Write functions they held: writes/commits is the mean group size.
func (s *Store) GroupStats() (commits, writes int64) {
	return s.group.commits.Load(), s.group.writes.Load()
}

func newGroup() *group { return &group{lead: make(chan struct{}, 1)} }

// groupWrite queues fn and returns once its group committed (or fn failed).
func (s *Store) groupWrite(ctx context.Context, fn func(tx *Tx) error) error {
	g := s.group
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	g.mu.Unlock()
	for {
		select {
		case <-r.done:
			return r.result()
		case g.lead <- struct{}{}:
			g.mu.Lock()
			n := min(len(g.queue), MaxGroup)
			batch := g.queue[:n:n]
			g.queue = append([]*writeReq(nil), g.queue[n:]...)
			g.mu.Unlock()
			if len(batch) > 0 {
				s.runGroup(batch)
			}
			<-g.lead
		}
	}
}

func (r *writeReq) result() error {
	if r.panicked != nil {
		panic(r.panicked)
	}
	return r.err
}

// runGroup runs batch in one transaction and commits it, then finishes
// every request of it.
func (s *Store) runGroup(batch []*writeReq) {
	var commitErr error
	defer func() {
		for _, r := range batch {
			if r.err == nil && r.panicked == nil {
				if commitErr != nil {
					r.err = commitErr
				} else {
					for _, f := range r.onCommit {
						f()
					}
				}
			}
			close(r.done)
		}
	}()
	// The shared transaction lives as long as the group, whatever happens
	// to one caller's context.
	sqlTx, err := s.W.BeginTx(context.Background(), nil)
	if err != nil {
		commitErr = fmt.Errorf("begin write: %w", err)
		return
	}
	ok := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err // gave up while queued: never ran
			continue
		}
		tx := &Tx{tx: sqlTx, ctx: context.WithoutCancel(r.ctx), s: s}
		if len(batch) == 1 { // alone: its failure rolls the transaction back
			if r.panicked, r.err = runFn(r.fn, tx); r.err != nil || r.panicked != nil {
				if err := sqlTx.Rollback(); err != nil {
					r.err = errors.Join(r.err, fmt.Errorf("rollback: %w", err))
				}
				return
			}
			r.onCommit = tx.onCommit
			ok++
			break
		}
		sp := "w" + strconv.Itoa(i)
		if _, err := sqlTx.Exec("SAVEPOINT " + sp); err != nil {
			r.err = fmt.Errorf("begin write: %w", err)
			continue
		}
		r.panicked, r.err = runFn(r.fn, tx)
		if r.err != nil || r.panicked != nil {
			if _, err := sqlTx.Exec("ROLLBACK TO " + sp); err != nil {
				// The transaction cannot be trusted any more: give
				// everything up.
				r.err = errors.Join(r.err, fmt.Errorf("rollback: %w", err))
				commitErr = fmt.Errorf("rollback of a failed write: %w", err)
				_ = sqlTx.Rollback() // commitErr already says why
				return
			}
		} else {
			r.onCommit = tx.onCommit
			ok++
		}
		if _, err := sqlTx.Exec("RELEASE " + sp); err != nil {
			commitErr = fmt.Errorf("release savepoint: %w", err)
			_ = sqlTx.Rollback() // commitErr already says why
			return
		}
	}
	if ok == 0 {
		if err := sqlTx.Rollback(); err != nil {
			commitErr = fmt.Errorf("rollback: %w", err)
		}
		return
	}
	if err := sqlTx.Commit(); err != nil {
		commitErr = fmt.Errorf("commit: %w", err)
		return
	}
	s.group.commits.Add(1)
	s.group.writes.Add(int64(ok))
	if s.ckpt != nil {
		s.ckpt.committed()
	}
}

// runFn runs fn, turning a panic into a value for its caller to re-raise.
func runFn(fn func(tx *Tx) error, tx *Tx) (panicked any, err error) {
	defer func() {
		if p := recover(); p != nil {
			panicked = p
		}
	}()
	return nil, fn(tx)
}
