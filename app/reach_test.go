package app

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-pds/hearth/internal/plcdir"
	"github.com/hearth-pds/hearth/pds/reach"
	"github.com/hearth-pds/hearth/tunnel"
)

// syncDNS stands in for DNS TXT records: a test changes them while the
// outside checker reads them.
type syncDNS struct {
	mu sync.Mutex
	m  map[string]string
}

func (d *syncDNS) ResolveHandle(ctx context.Context, h string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if did, ok := d.m[h]; ok {
		return did, nil
	}
	return "", errors.New("no TXT record")
}

func (d *syncDNS) set(h, did string) {
	d.mu.Lock()
	d.m[h] = did
	d.mu.Unlock()
}

func waitOutside(t *testing.T, a *App, what string, ok func(OutsideCheck) bool) OutsideCheck {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		st, err := a.PublishingStatus()
		if err != nil {
			t.Fatal(err)
		}
		if ok(st.Outside) {
			return st.Outside
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, _ := a.PublishingStatus()
	t.Fatalf("outside check never %s: %+v", what, st.Outside)
	return OutsideCheck{}
}

// TestOutsideCheckIsHonest: publishing is "verified" only while every step
// of the outside check passes; it runs on its own after a change (the
// tunnel coming online, a new handle) and periodically (a handle that
// stops resolving is noticed without anyone asking).
func TestOutsideCheckIsHonest(t *testing.T) {
	plc := httptest.NewServer(plcdir.New())
	t.Cleanup(plc.Close)
	dns := &syncDNS{m: map[string]string{}}
	ui := &fakeUI{}
	a := New(Config{DataDir: filepath.Join(t.TempDir(), "data"), PLCURL: plc.URL, HandleResolver: dns, OutsideCheckEvery: 300 * time.Millisecond})
	if err := Start(context.Background(), a, ui); err != nil {
		t.Fatal(err)
	}
	defer Shutdown(context.Background(), a)
	acc, err := a.CreateAccount("me.test", "password123", "")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := a.PublishingStatus(); err != nil || st.Outside.State != CheckOff {
		t.Fatalf("before publishing: %+v %v", st, err)
	}
	if _, err := a.StartPublishing(PublishConfig{Kind: "loopback", Relays: []string{"http://127.0.0.1:9"}}); err != nil {
		t.Fatal(err)
	}
	// Online, but the handle me.test resolves nowhere: failing, and it
	// says which step and how to fix it.
	c := waitOutside(t, a, "failing on the handle", func(c OutsideCheck) bool { return c.State == CheckFailing })
	if c.Failing != "Your handle resolves to your DID" || c.Hint == "" || c.Passed != 3 || len(c.Checks) != 4 || c.NextCheck.IsZero() {
		t.Fatalf("failing check %+v", c)
	}
	// A handle that resolves: SetHandle re-runs the check, which passes.
	dns.set("me.example.com", acc.DID)
	if _, err := a.SetHandle("me.example.com"); err != nil {
		t.Fatal(err)
	}
	c = waitOutside(t, a, "verified", func(c OutsideCheck) bool { return c.State == CheckVerified })
	if c.Passed != 4 || c.Failing != "" {
		t.Fatalf("verified check %+v", c)
	}
	// The DNS record changes behind Hearth's back: the periodic check
	// notices, with no action.
	dns.set("me.example.com", "did:plc:someoneelse234567")
	c = waitOutside(t, a, "failing again", func(c OutsideCheck) bool { return c.State == CheckFailing })
	if c.Failing != "Your handle resolves to your DID" {
		t.Fatalf("after the record changed: %+v", c)
	}
	ui.mu.Lock()
	emitted := slices.Contains(ui.events, "outside-check")
	ui.mu.Unlock()
	if !emitted {
		t.Error("no outside-check event reached the window")
	}
	// The relay list is the supervisor's: a named relay on a dead port is
	// not subscribed, with a reason and a next retry.
	st, err := a.PublishingStatus()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Relays) != 1 || st.Relays[0].State != reach.StateNotSubscribed || st.Relays[0].LastError == "" || st.Relays[0].NextRetry.IsZero() {
		t.Fatalf("relays %+v", st.Relays)
	}
	if err := a.StopPublishing(); err != nil {
		t.Fatal(err)
	}
	if st, err := a.PublishingStatus(); err != nil || st.Outside.State != CheckOff {
		t.Fatalf("after stopping: %+v %v", st.Outside, err)
	}
}

// TestNgrokTokenCheckedBeforeSaving: a newly entered ngrok token is checked
// once; a token ngrok does not accept (here ngrok may also be out of reach:
// both answers are fine) is refused in one plain sentence and not saved.
func TestNgrokTokenCheckedBeforeSaving(t *testing.T) {
	a, _ := startApp(t)
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	const bogus = "2bogusHEARTHtestTOKEN_0123456789abcdef"
	c := a.CheckNgrokToken(bogus)
	if c.OK || (c.Kind != tunnel.ProblemInvalidToken && c.Kind != tunnel.ProblemNoNetwork) || c.Detail == "" || strings.Contains(c.Sentence, "\n") {
		t.Fatalf("check of a bogus token: %+v", c)
	}
	t.Logf("bogus token: %s (%s)", c.Sentence, c.Kind)
	_, err := a.StartPublishing(PublishConfig{Kind: "ngrok", Authtoken: bogus})
	if err == nil || err.Error() != c.Sentence {
		t.Fatalf("StartPublishing with a bogus token: %v (want %q)", err, c.Sentence)
	}
	b, err := os.ReadFile(filepath.Join(a.dir(), settingsFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if strings.Contains(string(b), bogus) {
		t.Fatal("a token ngrok did not accept was saved")
	}
	if st, err := a.PublishingStatus(); err != nil || st.Tunnel.State != tunnel.Stopped {
		t.Fatalf("publishing after a refused token: %+v %v", st, err)
	}
	if c := a.CheckNgrokToken(""); c.OK {
		t.Fatal("an empty token passed")
	}
}
