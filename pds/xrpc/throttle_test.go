package xrpc_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/syntax"
	_ "modernc.org/sqlite"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/auth"
	"github.com/hearth-pds/hearth/pds/edge"
)

// tunnelURL serves p's handler on another loopback listener the way the
// tunnel does (edge.NewTunnelServer): requests there are strangers, told
// apart by the X-Forwarded-For the tunnel's edge appends.
func tunnelURL(t *testing.T, p *testpds.PDS) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := edge.NewTunnelServer(p.Server)
	go func() { _ = srv.Serve(ln) }() // ends with Close below
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// call POSTs body as JSON to nsid at base, from xff when it is not "".
func call(t *testing.T, base, xff, token, nsid string, body any) (int, http.Header, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/xrpc/"+nsid, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

func login(t *testing.T, base, xff, ident, pw string) (int, http.Header, []byte) {
	t.Helper()
	return call(t, base, xff, "", "com.atproto.server.createSession", map[string]any{"identifier": ident, "password": pw})
}

// mustThrottle checks a 429 RateLimitExceeded with a retry hint.
func mustThrottle(t *testing.T, st int, h http.Header, b []byte) {
	t.Helper()
	xrpcErr(t, st, b, http.StatusTooManyRequests, "RateLimitExceeded")
	if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After = %q", h.Get("Retry-After"))
	}
}

// Every spelling of one account spends one budget: ten failures spread
// over handle, @handle, DID, email and upper case lock that account for
// that address, whatever spelling comes next.
func TestLoginThrottleOneBudgetPerAccount(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	email := "alice@example.com"
	if _, err := p.Engine.CreateAccount(ctx, pds.NewAccount{Handle: "bob.test", Password: "bob-password", Email: email}); err != nil {
		t.Fatal(err)
	}
	bob, err := p.Engine.Accounts.Lookup(ctx, "bob.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		spellings []string
		password  string
	}{
		{"alice", []string{a.Handle, "@" + a.Handle, a.DID, strings.ToUpper(a.Handle), " " + a.Handle + " "}, a.Password},
		{"bob", []string{"bob.test", "@bob.test", bob.DID.String(), email, strings.ToUpper(email)}, "bob-password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, id := range tc.spellings {
				if st, _, b := login(t, p.URL, "", id, tc.password); st != http.StatusOK {
					t.Fatalf("login as %q: %d %s", id, st, b)
				}
			}
			for i := 0; i < 10; i++ {
				st, _, b := login(t, p.URL, "", tc.spellings[i%len(tc.spellings)], "wrong-password")
				xrpcErr(t, st, b, http.StatusUnauthorized, "AuthenticationRequired")
			}
			for _, id := range tc.spellings {
				st, h, b := login(t, p.URL, "", id, tc.password)
				mustThrottle(t, st, h, b)
			}
		})
	}
}

// A stranger's failures lock out only the stranger's address: the owner
// logs in from another address (through the tunnel or on loopback), and
// sessions keep refreshing.
func TestLoginThrottleStrangerCannotLockOutOwner(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	owner := p.Login(t, a)
	tun := tunnelURL(t, p)
	for i := 0; i < 10; i++ {
		st, _, b := login(t, tun, "203.0.113.7", a.Handle, "guess-"+strconv.Itoa(i))
		xrpcErr(t, st, b, http.StatusUnauthorized, "AuthenticationRequired")
	}
	st, h, b := login(t, tun, "203.0.113.7", a.Handle, a.Password)
	mustThrottle(t, st, h, b)
	// X-Forwarded-For is the tunnel's word only: on a direct connection it
	// is ignored, so the stranger cannot spend someone else's budget.
	for _, from := range []struct{ base, xff string }{{tun, "198.51.100.1"}, {p.URL, ""}, {p.URL, "203.0.113.7"}} {
		if st, _, b := login(t, from.base, from.xff, a.Handle, a.Password); st != http.StatusOK {
			t.Fatalf("owner via %s (xff %q) locked out: %d %s", from.base, from.xff, st, b)
		}
	}
	_, refresh := tokens(owner)
	st, _, b = raw(t, "POST", p.URL+"/xrpc/com.atproto.server.refreshSession", refresh, "", nil)
	if st != http.StatusOK {
		t.Fatalf("refreshSession while throttled: %d %s", st, b)
	}
}

// Identifiers that name no account spend the address's budget (30 per
// 15 minutes), which then covers real accounts from that address too.
func TestLoginThrottleUnknownIdentifiersByAddress(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	tun := tunnelURL(t, p)
	for i := 0; i < 30; i++ {
		st, _, b := login(t, tun, "203.0.113.9", "nobody"+strconv.Itoa(i)+".test", "whatever-pw")
		xrpcErr(t, st, b, http.StatusUnauthorized, "AuthenticationRequired")
	}
	st, h, b := login(t, tun, "203.0.113.9", a.Handle, a.Password)
	mustThrottle(t, st, h, b)
	if st, _, b := login(t, tun, "203.0.113.10", a.Handle, a.Password); st != http.StatusOK {
		t.Fatalf("other address: %d %s", st, b)
	}
}

// deleteAccount checks the password under the same throttle: its failures
// and createSession's add up, and the state survives a restart.
func TestDeleteAccountSharesThrottleAcrossRestart(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	for i := 0; i < 5; i++ {
		st, _, b := login(t, p.URL, "", a.DID, "wrong-password")
		xrpcErr(t, st, b, http.StatusUnauthorized, "AuthenticationRequired")
		st, _, b = call(t, p.URL, "", "", "com.atproto.server.deleteAccount", map[string]any{"did": a.DID, "password": "wrong-password"})
		xrpcErr(t, st, b, http.StatusUnauthorized, "AuthenticationRequired")
	}
	p = p.Restart(t)
	st, h, b := call(t, p.URL, "", "", "com.atproto.server.deleteAccount", map[string]any{"did": a.DID, "password": a.Password})
	mustThrottle(t, st, h, b)
	st, h, b = login(t, p.URL, "", a.Handle, a.Password)
	mustThrottle(t, st, h, b)
	if acc, err := p.Engine.Accounts.Get(ctx, syntax.DID(a.DID)); err != nil || acc == nil {
		t.Fatalf("account gone after throttled deleteAccount: %v", err)
	}
}

// Identifier parsing: a DID, a handle with or without "@", an email; bad
// identifiers are a 401, never a 500.
func TestLoginIdentifiers(t *testing.T) {
	p := testpds.Start(t, nil)
	if _, err := p.Engine.CreateAccount(ctx, pds.NewAccount{Handle: "carol.test", Password: "carol-password", Email: "Carol@Example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ident string
		ok    bool
	}{
		{"carol.test", true}, {"@carol.test", true}, {"@CAROL.test", true}, {"carol@example.com", true}, {"CAROL@example.COM", true},
		{"@carol@example.com", false}, {"@", false}, {"did:plc:", false}, {"did:plc:zzz", false}, {"not a handle", false},
		{"carol", false}, {"@@carol.test", false},
	} {
		st, _, b := login(t, p.URL, "", tc.ident, "carol-password")
		if tc.ok && st != http.StatusOK {
			t.Errorf("%q: %d %s", tc.ident, st, b)
		}
		if !tc.ok && st != http.StatusUnauthorized {
			t.Errorf("%q: want 401, got %d %s", tc.ident, st, b)
		}
	}
}

// A wrong password costs one argon2 run however many app passwords the
// account has; an app password costs none (found by its lookup hash);
// an app password stored before lookup hashes still works and gets one.
func TestAppPasswordLookupHashRuns(t *testing.T) {
	h := auth.NewHasher(2, 32)
	p := testpds.Start(t, func(c *pds.Config) { c.Hasher = h })
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	var secrets []string
	for _, name := range []string{"one", "two", "three", "four"} {
		var ap struct{ Password string }
		if err := c.Post(ctx, "com.atproto.server.createAppPassword", map[string]any{"name": name}, &ap); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, ap.Password)
	}
	runs := func(t *testing.T, pw string, want int, wantStatus int) {
		t.Helper()
		before := h.Stats().Runs
		st, _, b := login(t, p.URL, "", a.Handle, pw)
		if st != wantStatus {
			t.Fatalf("login with %q: %d %s", pw, st, b)
		}
		if got := int(h.Stats().Runs - before); got != want {
			t.Fatalf("login with %q ran argon2 %d times, want %d", pw, got, want)
		}
	}
	runs(t, "wrong-password", 1, http.StatusUnauthorized)
	runs(t, "abcd-efgh-ijkl-mnop", 1, http.StatusUnauthorized)
	runs(t, secrets[2], 0, http.StatusOK)
	runs(t, a.Password, 1, http.StatusOK)

	// Make "two" a row from before lookup hashes (argon2 only).
	legacy, err := auth.HashPassword(secrets[1])
	if err != nil {
		t.Fatal(err)
	}
	p.Stop()
	db, err := sql.Open("sqlite", filepath.Join(p.Config.DataDir, "hearth.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE app_password SET lookup_hash = NULL, password_hash = ? WHERE name = 'two'", legacy); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	p = p.Restart(t)
	runs(t, secrets[1], 2, http.StatusOK) // the account password, then the legacy row
	runs(t, secrets[1], 0, http.StatusOK) // found by its new lookup hash
}

// Password hashing runs under the hasher's limit: many concurrent logins
// never run more than its slots of argon2 at once.
func TestLoginHashingConcurrencyLimit(t *testing.T) {
	h := auth.NewHasher(2, 64)
	p := testpds.Start(t, func(c *pds.Config) { c.Hasher = h })
	a := p.CreateAccount(t, "alice.test")
	const n = 16
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := atclient.LoginWithPasswordHost(ctx, p.URL, a.Handle, a.Password, "", nil)
			errc <- err
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := h.Stats()
	if st.Runs < n || st.Peak > 2 {
		t.Fatalf("hasher stats %+v: want ≥%d runs, at most 2 at once", st, n)
	}
}
