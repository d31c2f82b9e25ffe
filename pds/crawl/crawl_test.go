package crawl

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeRelay struct {
	srv      *httptest.Server
	failures int32 // answer 503 this many times first
	status   int   // then this status
	calls    atomic.Int32
	mu       sync.Mutex
	hosts    []string
}

func newFake(t *testing.T, failures int32, status int) *fakeRelay {
	f := &fakeRelay{failures: failures, status: status}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/xrpc/com.atproto.sync.requestCrawl" || r.Method != "POST" {
			http.NotFound(w, r)
			return
		}
		var in struct{ Hostname string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			t.Errorf("requestCrawl body: %v", err)
		}
		f.mu.Lock()
		f.hosts = append(f.hosts, in.Hostname)
		f.mu.Unlock()
		if f.calls.Add(1) <= f.failures {
			http.Error(w, `{"error":"Unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(f.status)
		if _, err := w.Write([]byte(`{"error":"InvalidRequest","message":"nope"}`)); err != nil {
			t.Errorf("answer: %v", err)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func waitState(t *testing.T, r *Requester, relay, state string) Status {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range r.Status() {
			if s.Relay == relay && s.State == state {
				return s
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("relay %s never reached %s: %+v", relay, state, r.Status())
	return Status{}
}

func TestRetriesThenOKAndRefusal(t *testing.T) {
	flaky := newFake(t, 2, http.StatusOK)
	refusing := newFake(t, 0, http.StatusBadRequest)
	r := New([]string{flaky.srv.URL, refusing.srv.URL + "/"}, nil, nil)
	r.MinBackoff = 10 * time.Millisecond
	defer r.Close()
	for _, s := range r.Status() {
		if s.State != StateIdle {
			t.Fatalf("before any request: %+v", s)
		}
	}
	r.Request("pds.example.com")
	ok := waitState(t, r, flaky.srv.URL, StateOK)
	if ok.Attempts != 3 || ok.Hostname != "pds.example.com" || ok.LastError != "" {
		t.Fatalf("flaky relay status %+v", ok)
	}
	ref := waitState(t, r, refusing.srv.URL, StateRefused)
	if ref.Attempts != 1 || ref.LastError == "" {
		t.Fatalf("refusing relay status %+v", ref)
	}
	time.Sleep(50 * time.Millisecond)
	if n := refusing.calls.Load(); n != 1 {
		t.Fatalf("a refused request was retried (%d calls)", n)
	}
}

func TestHostnameChangeSupersedes(t *testing.T) {
	down := newFake(t, 1<<30, http.StatusOK) // always 503
	r := New([]string{down.srv.URL}, nil, nil)
	r.MinBackoff = 20 * time.Millisecond
	defer r.Close()
	r.Request("old.example.com")
	waitState(t, r, down.srv.URL, StatePending)
	time.Sleep(50 * time.Millisecond)
	r.Request("new.example.com")
	time.Sleep(100 * time.Millisecond)
	if s := r.Status()[0]; s.Hostname != "new.example.com" || s.LastError == "" {
		t.Fatalf("status after change %+v", s)
	}
	down.mu.Lock()
	hosts := append([]string(nil), down.hosts...)
	down.mu.Unlock()
	sawNew := false
	for i, h := range hosts {
		if h == "new.example.com" {
			sawNew = true
		} else if sawNew {
			t.Fatalf("old hostname retried after the change: %v (at %d)", hosts, i)
		}
	}
	if !sawNew {
		t.Fatalf("new hostname never requested: %v", hosts)
	}
}
