package store

import (
	"context"
	"sync"
	"time"

	"github.com/hearth-pds/hearth/pds/errs"
)

// Read connections, and how many of them streamed reads may hold.
const (
	// ReadConns is the size of the read pool.
	ReadConns = 8
	// MaxLongReads is how many read transactions that stream to a client
	// (repo exports, proofs, getBlocks) may be open at once. A client that
	// stops reading keeps its transaction, and so a read connection, for as
	// long as it stalls; the other ReadConns-MaxLongReads connections stay
	// free for the short reads every request needs, writes included.
	MaxLongReads = 3
	// LongReadWait is how long a streamed read waits for one of the
	// MaxLongReads slots before it is refused with ErrRateLimited.
	LongReadWait = 5 * time.Second
)

// longReads is a counting semaphore over streamed read transactions.
type longReads struct {
	slots chan struct{}
	wait  time.Duration
}

func newLongReads(n int, wait time.Duration) *longReads {
	return &longReads{slots: make(chan struct{}, n), wait: wait}
}

// acquire takes a slot, waiting at most l.wait; the returned release gives
// it back (safe to call more than once).
func (l *longReads) acquire(ctx context.Context) (func(), error) {
	select {
	case l.slots <- struct{}{}:
	default:
		t := time.NewTimer(l.wait)
		defer t.Stop()
		select {
		case l.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			return nil, errs.New(errs.ErrRateLimited, "too many repo downloads at once; try again shortly")
		}
	}
	var once sync.Once
	return func() { once.Do(func() { <-l.slots }) }, nil
}

// LongReadsInUse reports how many streamed read transactions are open.
func (s *Store) LongReadsInUse() int { return len(s.long.slots) }

// SetLongReadWait changes how long a streamed read waits for a slot (tests
// and operators who prefer refusing at once). Call it before serving.
func (s *Store) SetLongReadWait(d time.Duration) { s.long.wait = d }

// StreamSnapshot is Snapshot for a read that streams to a client and may
// stall for as long as the client does. It holds one of MaxLongReads slots
// until Rollback, so streamed reads never take the whole read pool; when
// every slot stays taken for LongReadWait it fails with ErrRateLimited.
//
// The snapshot is fixed by the transaction's first read, not by this call:
// a caller that must see the same state as something it holds a lock on
// does its first read under that lock.
func (s *Store) StreamSnapshot(ctx context.Context) (*Tx, error) {
	release, err := s.long.acquire(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := s.Snapshot(ctx)
	if err != nil {
		release()
		return nil, err
	}
	tx.release = release
	return tx, nil
}
