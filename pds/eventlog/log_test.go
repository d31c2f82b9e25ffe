package eventlog_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/eventlog"
	"github.com/hearth-pds/hearth/pds/events"
	"github.com/hearth-pds/hearth/pds/store"
)

func open(t *testing.T) (*store.Store, *eventlog.Log) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "hearth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	l, err := eventlog.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return db, l
}

const did = syntax.DID("did:plc:abcdefghijklmnopqrstuvwx")

// Events reach subscribers only once their transaction commits; a rolled
// back append is neither stored, published, nor given away its seq.
func TestAppendPublishesOnlyAfterCommit(t *testing.T) {
	ctx := context.Background()
	db, l := open(t)
	ch, stop := l.Subscribe(8)
	defer stop()

	boom := errors.New("boom")
	err := db.Write(ctx, func(tx *store.Tx) error {
		if _, err := l.Append(tx, eventlog.Identity(did, "alice.test")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("write: %v", err)
	}
	select {
	case ev := <-ch:
		t.Fatalf("rolled back event published: %+v", ev)
	default:
	}

	var appended []eventlog.Event
	err = db.Write(ctx, func(tx *store.Tx) error {
		for _, e := range []eventlog.Entry{eventlog.Identity(did, "alice.test"), eventlog.Account(did, false, "deactivated")} {
			ev, err := l.Append(tx, e)
			if err != nil {
				return err
			}
			appended = append(appended, ev)
			select {
			case got := <-ch:
				t.Errorf("event %d published before commit", got.Seq)
			default:
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range appended {
		select {
		case got := <-ch:
			if got.Seq != want.Seq || got.Kind != want.Kind || string(got.Frame) != string(want.Frame) {
				t.Fatalf("published %+v, want %+v", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d not published after commit", i)
		}
	}
	if appended[0].Seq != 1 || appended[1].Seq != 2 {
		t.Fatalf("seqs %d, %d: want 1, 2", appended[0].Seq, appended[1].Seq)
	}

	got, err := l.Range(ctx, 0, 10, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("log holds %d events, want 2", len(got))
	}
	for i, ev := range got {
		f, err := events.Decode(ev.Frame)
		if err != nil {
			t.Fatal(err)
		}
		if f.Seq() != ev.Seq || ev.DID != did.String() || ev.Time != appended[i].Time {
			t.Fatalf("event %d: frame seq %d, row %+v", i, f.Seq(), ev)
		}
	}
	if other, err := l.Range(ctx, 0, 10, 0, "did:plc:someoneelse"); err != nil || len(other) != 0 {
		t.Fatalf("DID filter: %d events, %v", len(other), err)
	}
}

// Pruning never reuses a seq and never removes what a subscriber needs.
func TestPruneKeepsSeqsMonotonic(t *testing.T) {
	ctx := context.Background()
	db, l := open(t)
	appendN := func(n int) {
		for range n {
			if err := db.Write(ctx, func(tx *store.Tx) error {
				_, err := l.Append(tx, eventlog.Identity(did, "alice.test"))
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(5)
	n, err := l.Prune(ctx, time.Now().Add(time.Hour), 0, 3)
	if err != nil || n != 3 {
		t.Fatalf("pruned %d, %v; want 3 (protect stops at seq 3)", n, err)
	}
	if oldest, _ := l.OldestSeq(ctx); oldest != 4 {
		t.Fatalf("oldest seq %d, want 4", oldest)
	}
	if _, err := l.Prune(ctx, time.Now().Add(time.Hour), 0, 1<<62); err != nil {
		t.Fatal(err)
	}
	appendN(1)
	if last, _ := l.LastSeq(ctx); last != 6 {
		t.Fatalf("after pruning everything the next seq is %d, want 6", last)
	}
}

// Every event gets a time_us that grows with seq, survives a reopen (the
// clock resumes past the newest stamp), and SeqAtTimeUS finds where a
// cursor falls: at an event, between two, before all, after all.
func TestTimeUSAndCursorLookup(t *testing.T) {
	ctx := context.Background()
	db, l := open(t)
	if seq, err := l.SeqAtTimeUS(ctx, time.Now().UnixMicro()); err != nil || seq != 0 {
		t.Fatalf("empty log: %d, %v", seq, err)
	}
	var evs []eventlog.Event
	appendOne := func(l *eventlog.Log) {
		err := db.Write(ctx, func(tx *store.Tx) error {
			ev, err := l.Append(tx, eventlog.Identity(did, "alice.test"))
			evs = append(evs, ev)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		appendOne(l)
	}
	l2, err := eventlog.Open(ctx, db) // a restart: the clock resumes from the log
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	appendOne(l2)
	read, err := l.Range(ctx, 0, 100, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range read {
		if ev.TimeUS != evs[i].TimeUS {
			t.Fatalf("event %d: stored time_us %d, appended %d", i, ev.TimeUS, evs[i].TimeUS)
		}
		if i > 0 && ev.TimeUS <= read[i-1].TimeUS {
			t.Fatalf("time_us not increasing: %d after %d", ev.TimeUS, read[i-1].TimeUS)
		}
	}
	tests := []struct {
		name   string
		cursor int64
		want   int64 // seq to read after
	}{
		{"before all", evs[0].TimeUS - 1, 0},
		{"at the first", evs[0].TimeUS, 0},
		{"at the third", evs[2].TimeUS, 2},
		{"inside the third's span", evs[2].TimeUS + 1, 2},
		{"at the last", evs[5].TimeUS, 5},
		{"after all", evs[5].TimeUS + 1e6, 5},
	}
	for _, tc := range tests {
		if got, err := l.SeqAtTimeUS(ctx, tc.cursor); err != nil || got != tc.want {
			t.Errorf("%s: SeqAtTimeUS = %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
}
