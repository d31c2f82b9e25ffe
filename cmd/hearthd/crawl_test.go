package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hearth-pds/hearth/pds/reach"
)

// fakeRelay reports the hostnames it is asked to crawl on asked.
type fakeRelay struct {
	srv   *httptest.Server
	asked chan string
}

func newFakeRelay(t *testing.T) *fakeRelay {
	f := &fakeRelay{asked: make(chan string, 16)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/xrpc/com.atproto.sync.requestCrawl" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		var in struct{ Hostname string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			// t.Errorf, not t.Fatal: this is the server's goroutine (the
			// test is still running: its cleanup closes the server).
			t.Errorf("requestCrawl body: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case f.asked <- in.Hostname:
		default:
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// waitAsked waits for the relay's next crawl request (30 s safety net).
func (f *fakeRelay) waitAsked(t *testing.T) string {
	t.Helper()
	select {
	case h := <-f.asked:
		return h
	case <-time.After(30 * time.Second):
		t.Fatal("the relay was never asked to crawl")
		return ""
	}
}

func TestGivenFlag(t *testing.T) {
	parse := func(args ...string) *flag.FlagSet {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.String("relays", "https://bsky.network", "")
		fs.String("listen", "127.0.0.1:2583", "")
		if err := parseFlags(fs, args); err != nil {
			t.Fatal(err)
		}
		return fs
	}
	t.Setenv("HEARTH_RELAYS", "") // restored after the test
	if err := os.Unsetenv("HEARTH_RELAYS"); err != nil {
		t.Fatal(err)
	}
	if given(parse(), "relays") {
		t.Error("default --relays counted as given")
	}
	if given(parse("--listen", "127.0.0.1:1"), "relays") {
		t.Error("another flag counted as --relays")
	}
	if !given(parse("--relays", "https://relay.example.com"), "relays") {
		t.Error("--relays on the command line not counted as given")
	}
	if !given(parse("--relays", "https://bsky.network"), "relays") {
		t.Error("--relays naming the default relay not counted as given")
	}
	t.Setenv("HEARTH_RELAYS", "https://relay.example.com")
	if !given(parse(), "relays") {
		t.Error("HEARTH_RELAYS not counted as given")
	}
	t.Setenv("HEARTH_RELAYS", "")
	if !given(parse(), "relays") {
		t.Error("HEARTH_RELAYS= (no relays) not counted as given")
	}
}

func TestRequestCrawlPolicy(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		publicURL string
		explicit  bool
		want      string // hostname the relay is asked to crawl; "" = not asked
	}{
		{"https://pds.example.com", false, "pds.example.com"},
		{"https://pds.example.com:8443", false, "pds.example.com:8443"},
		{"https://pds.example.com", true, "pds.example.com"},
		{"http://localhost:2583", false, ""},
		{"http://localhost:2583", true, "localhost:2583"},
		{"http://127.0.0.1:2583", false, ""},
		{"http://192.168.1.20:2583", false, ""},
		{"http://[fd00::1]:2583", false, ""},
		{"http://100.64.1.2", false, ""},
		{"https://mybox.local", false, ""},
		{"https://mybox.local", true, "mybox.local"},
		{"https://pds.corp.internal", false, ""},
		{"http://nas:2583", false, ""},
	} {
		t.Run(fmt.Sprintf("%s explicit=%v", tt.publicURL, tt.explicit), func(t *testing.T) {
			relay := newFakeRelay(t)
			c := reach.New(reach.Config{Relays: relayList(relay.srv.URL, tt.explicit), Log: log})
			defer c.Close()
			asked := announce(c, tt.publicURL, log)
			if asked != (tt.want != "") {
				t.Fatalf("announce asked = %v, want %v", asked, tt.want != "")
			}
			if tt.want == "" {
				// Not asked: nothing was started, so there is nothing to wait for.
				if st := c.Status(); st[0].State != reach.StateIdle {
					t.Fatalf("relay status %+v, want idle", st[0])
				}
				return
			}
			if got := relay.waitAsked(t); got != tt.want {
				t.Fatalf("relay asked to crawl %q, want %q", got, tt.want)
			}
		})
	}
}

// TestServeCrawlRequests runs `hearthd serve` on a local public URL: a
// relay named with --relays or HEARTH_RELAYS is asked to crawl it, the
// default relays are not.
func TestServeCrawlRequests(t *testing.T) {
	run := func(t *testing.T, env []string, extra ...string) (stderr *syncBuffer, hostname string) {
		dir := t.TempDir()
		port := freePort(t)
		url := fmt.Sprintf("http://localhost:%d", port)
		args := append([]string{"serve", "--data-dir", dir, "--public-url", url, "--plc-url", fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
			"--listen", fmt.Sprintf("127.0.0.1:%d", port)}, extra...)
		cmd := child(t, nil, args...)
		// the child's environment, without any HEARTH_RELAYS of our own
		cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, "HEARTH_RELAYS=") })
		cmd.Env = append(cmd.Env, env...)
		stderr = &syncBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// ErrProcessDone: it already exited; Wait reports how.
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
				t.Errorf("SIGTERM hearthd serve: %v", err)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("hearthd serve: %v\n%s", err, stderr.String())
			}
		})
		waitReady(t, url)
		return stderr, fmt.Sprintf("localhost:%d", port)
	}
	t.Run("flag", func(t *testing.T) {
		relay := newFakeRelay(t)
		_, host := run(t, nil, "--relays", relay.srv.URL)
		if got := relay.waitAsked(t); got != host {
			t.Fatalf("relay asked to crawl %q, want %q", got, host)
		}
		// This relay has no getHostStatus and nobody reads the firehose:
		// serve's supervisor does not stop at the accepted request, it
		// announces again (after its 2 s first backoff).
		if got := relay.waitAsked(t); got != host {
			t.Fatalf("relay asked again to crawl %q, want %q", got, host)
		}
	})
	t.Run("env", func(t *testing.T) {
		relay := newFakeRelay(t)
		_, host := run(t, []string{"HEARTH_RELAYS=" + relay.srv.URL})
		if got := relay.waitAsked(t); got != host {
			t.Fatalf("relay asked to crawl %q, want %q", got, host)
		}
	})
	t.Run("default", func(t *testing.T) {
		stderr, host := run(t, nil)
		// serve decides before it waits for signals; the log line is the event.
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(stderr.String(), "not asking the default relays to crawl") {
			if time.Now().After(deadline) {
				t.Fatalf("no decision logged for %s within 30s:\n%s", host, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for the child's stderr copier and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
