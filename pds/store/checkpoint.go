package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Checkpoints run on their own connection, off the write path.
//
// With SQLite's default, the commit that pushes the WAL past 1000 pages copies
// every page not yet in the database file there and fsyncs it before it
// returns: every ~100th createRecord paid milliseconds for everyone's writes.
// A checkpointer goroutine now runs PASSIVE checkpoints (they never block the
// writer or readers) shortly after commits, so that work happens on another
// core. The writer keeps SQLite's automatic checkpoint: under continuous
// writes a PASSIVE checkpoint never catches the WAL's end, and only a
// checkpoint on the writer lets the WAL start over; it now finds nearly every
// page already copied. Durability does not change: a commit is durable once
// its WAL frames are fsynced (synchronous=FULL). When the last connection
// closes, SQLite checkpoints what is left.

// checkpointDelay batches the commits of a burst into one checkpoint.
const checkpointDelay = 10 * time.Millisecond

type checkpointer struct {
	db       *sql.DB
	kick     chan struct{}
	stop     chan struct{}
	done     sync.WaitGroup
	closeOne sync.Once
	closeErr error
	runs     atomic.Int64
	lastErr  atomic.Value // error
}

func startCheckpointer(path string) (*checkpointer, error) {
	q := dsnQuery()
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open checkpoint connection: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{})}
	c.done.Add(1)
	go c.loop()
	return c, nil
}

// committed tells the checkpointer that the WAL grew.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) loop() {
	defer c.done.Done()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointDelay):
		}
		c.checkpoint()
	}
}

func (c *checkpointer) checkpoint() {
	var busy, logFrames, done int64
	err := c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done)
	if err != nil {
		c.lastErr.Store(fmt.Errorf("checkpoint: %w", err))
		return
	}
	c.runs.Add(1)
}

// close stops the loop and closes the connection; later calls do nothing.
func (c *checkpointer) close() error {
	c.closeOne.Do(func() {
		close(c.stop)
		c.done.Wait()
		c.closeErr = c.db.Close()
	})
	return c.closeErr
}
