package plcdir_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/hearth-pds/hearth/internal/plcdir"
	"github.com/hearth-pds/hearth/pds/plc"
)

// account is a PDS account with its keys and genesis op.
type account struct {
	rotation *atcrypto.PrivateKeyK256
	signing  atcrypto.PublicKey
	did      string
	genesis  []byte
}

func newKey(t *testing.T) *atcrypto.PrivateKeyK256 {
	t.Helper()
	k, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(t *testing.T, k atcrypto.PrivateKey) atcrypto.PublicKey {
	t.Helper()
	p, err := k.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newAccount(t *testing.T, handle, pdsURL string) account {
	t.Helper()
	a := account{rotation: newKey(t), signing: pub(t, newKey(t))}
	var err error
	a.did, a.genesis, err = plc.GenesisOp(a.rotation, a.signing, handle, pdsURL)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newServer(t *testing.T) (*httptest.Server, *plc.Client) {
	t.Helper()
	srv := httptest.NewServer(plcdir.New())
	t.Cleanup(srv.Close)
	return srv, &plc.Client{URL: srv.URL, HTTP: srv.Client()}
}

func submit(t *testing.T, c *plc.Client, did string, op []byte) {
	t.Helper()
	if err := c.Submit(context.Background(), did, op); err != nil {
		t.Fatalf("submit: %v", err)
	}
}

func update(t *testing.T, prev []byte, rotation atcrypto.PrivateKey, signing atcrypto.PublicKey, handle, pdsURL string, extra ...string) []byte {
	t.Helper()
	op, err := plc.UpdateOp(prev, rotation, signing, handle, pdsURL, extra)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func lookup(t *testing.T, plcURL, did string) *identity.Identity {
	t.Helper()
	// Handle verification would need DNS; the declared handle is checked instead.
	dir := identity.BaseDirectory{PLCURL: plcURL, SkipHandleVerification: true}
	ident, err := dir.LookupDID(context.Background(), syntax.DID(did))
	if err != nil {
		t.Fatalf("LookupDID: %v", err)
	}
	return ident
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
	return resp.StatusCode
}

func TestResolveGenesis(t *testing.T) {
	srv, c := newServer(t)
	a := newAccount(t, "alice.hearth.test", "https://pds.hearth.test")
	submit(t, c, a.did, a.genesis)

	ident := lookup(t, srv.URL, a.did)
	handle, err := ident.DeclaredHandle()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ident.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"did", ident.DID.String(), a.did},
		{"handle", handle.String(), "alice.hearth.test"},
		{"alsoKnownAs", strings.Join(ident.AlsoKnownAs, ","), "at://alice.hearth.test"},
		{"pds", ident.PDSEndpoint(), "https://pds.hearth.test"},
		{"signing key", key.DIDKey(), a.signing.DIDKey()},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}

	// The raw document has plc.directory's shape.
	var doc struct {
		Context            []string `json:"@context"`
		ID                 string   `json:"id"`
		VerificationMethod []struct{ ID, Type, Controller, PublicKeyMultibase string }
		Service            []struct{ ID, Type, ServiceEndpoint string }
	}
	if code := getJSON(t, srv.URL+"/"+a.did, &doc); code != http.StatusOK {
		t.Fatalf("GET doc: %d", code)
	}
	if !slices.Contains(doc.Context, "https://www.w3.org/ns/did/v1") ||
		!slices.Contains(doc.Context, "https://w3id.org/security/suites/secp256k1-2019/v1") {
		t.Errorf("@context = %v", doc.Context)
	}
	if len(doc.VerificationMethod) != 1 || doc.VerificationMethod[0].ID != a.did+"#atproto" ||
		doc.VerificationMethod[0].Type != "Multikey" || doc.VerificationMethod[0].PublicKeyMultibase != a.signing.Multibase() {
		t.Errorf("verificationMethod = %+v", doc.VerificationMethod)
	}
	if len(doc.Service) != 1 || doc.Service[0].ID != "#atproto_pds" || doc.Service[0].Type != "AtprotoPersonalDataServer" {
		t.Errorf("service = %+v", doc.Service)
	}

	// /log/last is the genesis op itself.
	last, err := c.LastOp(context.Background(), a.did)
	if err != nil {
		t.Fatal(err)
	}
	if cid1, cid2 := mustCID(t, last), mustCID(t, a.genesis); cid1 != cid2 {
		t.Errorf("last op CID %s, want genesis %s", cid1, cid2)
	}
}

func mustCID(t *testing.T, op []byte) string {
	t.Helper()
	c, err := plc.OpCID(op)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUpdates(t *testing.T) {
	srv, c := newServer(t)
	ctx := context.Background()
	a := newAccount(t, "alice.hearth.test", "http://127.0.0.1:2583")
	submit(t, c, a.did, a.genesis)

	// The PDS moves to a public URL and adds the user's own recovery key.
	recovery := newKey(t)
	moved := update(t, a.genesis, a.rotation, a.signing, "alice.hearth.test", "https://alice.hearth.test", pub(t, recovery).DIDKey())
	submit(t, c, a.did, moved)
	if got := lookup(t, srv.URL, a.did).PDSEndpoint(); got != "https://alice.hearth.test" {
		t.Fatalf("PDS endpoint after update = %q", got)
	}
	var data struct {
		DID          string   `json:"did"`
		RotationKeys []string `json:"rotationKeys"`
	}
	raw, err := c.DocumentData(ctx, a.did)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	if data.DID != a.did || len(data.RotationKeys) != 2 || data.RotationKeys[1] != pub(t, recovery).DIDKey() {
		t.Errorf("data = %s", raw)
	}

	// The recovery key (second rotation key) may now update...
	byUser := update(t, moved, recovery, a.signing, "alice.example.org", "https://alice.hearth.test")
	submit(t, c, a.did, byUser)
	// ...and the PDS key, which ranks higher, may undo that within 72h.
	undo := update(t, moved, a.rotation, a.signing, "alice.hearth.test", "https://alice.hearth.test", pub(t, recovery).DIDKey())
	submit(t, c, a.did, undo)

	var log []json.RawMessage
	if code := getJSON(t, srv.URL+"/"+a.did+"/log", &log); code != http.StatusOK {
		t.Fatalf("GET log: %d", code)
	}
	var gotLog []string
	for _, op := range log {
		gotLog = append(gotLog, mustCID(t, op))
	}
	wantLog := []string{mustCID(t, a.genesis), mustCID(t, moved), mustCID(t, undo)}
	if !slices.Equal(gotLog, wantLog) {
		t.Errorf("log = %v, want %v", gotLog, wantLog)
	}

	var audit []didplc.LogEntry
	if code := getJSON(t, srv.URL+"/"+a.did+"/log/audit", &audit); code != http.StatusOK {
		t.Fatalf("GET audit: %d", code)
	}
	if len(audit) != 4 || !audit[2].Nullified || audit[2].CID != mustCID(t, byUser) {
		t.Errorf("audit = %+v", audit)
	}
	if err := didplc.VerifyOpLog(audit); err != nil {
		t.Errorf("didplc.VerifyOpLog(audit): %v", err)
	}
}

func TestRejectedOps(t *testing.T) {
	srv, c := newServer(t)
	a := newAccount(t, "alice.hearth.test", "https://pds.hearth.test")
	submit(t, c, a.did, a.genesis)
	first := update(t, a.genesis, a.rotation, a.signing, "alice.hearth.test", "https://one.hearth.test")
	submit(t, c, a.did, first)
	b := newAccount(t, "bob.hearth.test", "https://pds.hearth.test")
	mallory := newKey(t)

	tamperedGenesis := func() []byte {
		var op didplc.RegularOp
		if err := json.Unmarshal(b.genesis, &op); err != nil {
			t.Fatal(err)
		}
		op.AlsoKnownAs = []string{"at://mallory.hearth.test"}
		out, _ := json.Marshal(op)
		return out
	}()
	tombstoneBy := func(k atcrypto.PrivateKey, prev []byte) []byte {
		op := didplc.TombstoneOp{Type: "plc_tombstone", Prev: mustCID(t, prev)}
		if err := op.Sign(k); err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(op)
		return out
	}

	tests := []struct {
		name string
		did  string
		op   []byte
	}{
		{"update signed by another key", a.did, update(t, first, mallory, a.signing, "alice.hearth.test", "https://evil.hearth.test")},
		{"tombstone signed by another key", a.did, tombstoneBy(mallory, first)},
		{"prev of another DID", a.did, update(t, b.genesis, a.rotation, a.signing, "alice.hearth.test", "https://two.hearth.test")},
		{"stale prev (fork without a higher key)", a.did, update(t, a.genesis, a.rotation, a.signing, "alice.hearth.test", "https://two.hearth.test")},
		{"duplicate update", a.did, first},
		{"duplicate genesis", a.did, a.genesis},
		{"genesis under another DID", a.did, b.genesis},
		{"tampered genesis", b.did, tamperedGenesis},
		{"update of unregistered DID", b.did, update(t, b.genesis, b.rotation, b.signing, "bob.hearth.test", "https://two.hearth.test")},
		{"malformed DID", "did:plc:nope", b.genesis},
		{"not JSON", b.did, []byte("nope")},
		{"unknown field", b.did, bytes.Replace(b.genesis, []byte(`{`), []byte(`{"extra":1,`), 1)},
		{"legacy create", b.did, []byte(`{"type":"create","signingKey":"","recoveryKey":"","handle":"","service":"","prev":null,"sig":"x"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/"+tt.did, "application/json", bytes.NewReader(tt.op))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Message string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("error body: %v", err)
			}
			if resp.StatusCode != http.StatusBadRequest || body.Message == "" {
				t.Fatalf("status %d message %q, want 400 with a message", resp.StatusCode, body.Message)
			}
			t.Logf("refused: %s", body.Message)
		})
	}

	// Nothing above changed alice's state, and bob was never registered.
	if got := lookup(t, srv.URL, a.did).PDSEndpoint(); got != "https://one.hearth.test" {
		t.Errorf("alice's PDS = %q after refused ops", got)
	}
	if _, err := c.LastOp(context.Background(), b.did); !errors.Is(err, plc.ErrNotFound) {
		t.Errorf("bob LastOp: %v, want ErrNotFound", err)
	}
}

func TestTombstone(t *testing.T) {
	srv, c := newServer(t)
	a := newAccount(t, "alice.hearth.test", "https://pds.hearth.test")
	submit(t, c, a.did, a.genesis)
	ts := didplc.TombstoneOp{Type: "plc_tombstone", Prev: mustCID(t, a.genesis)}
	if err := ts.Sign(a.rotation); err != nil {
		t.Fatal(err)
	}
	tsJSON, _ := json.Marshal(ts)
	submit(t, c, a.did, tsJSON)

	for _, path := range []string{"", "/data"} {
		var body struct{ Message string }
		if code := getJSON(t, srv.URL+"/"+a.did+path, &body); code != http.StatusNotFound {
			t.Errorf("GET %s after tombstone: %d %q", path, code, body.Message)
		}
	}
	last, err := c.LastOp(context.Background(), a.did)
	if err != nil || mustCID(t, last) != mustCID(t, tsJSON) {
		t.Errorf("last op = %s, %v; want the tombstone", last, err)
	}
	prev := mustCID(t, tsJSON)
	revive := didplc.RegularOp{
		Type:                "plc_operation",
		RotationKeys:        []string{pub(t, a.rotation).DIDKey()},
		VerificationMethods: map[string]string{"atproto": a.signing.DIDKey()},
		AlsoKnownAs:         []string{"at://alice.hearth.test"},
		Services:            map[string]didplc.OpService{"atproto_pds": {Type: "AtprotoPersonalDataServer", Endpoint: "https://pds.hearth.test"}},
		Prev:                &prev,
	}
	if err := revive.Sign(a.rotation); err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(revive)
	if err := c.Submit(context.Background(), a.did, after); !errors.Is(err, plc.ErrRejected) {
		t.Errorf("update after tombstone: %v, want ErrRejected", err)
	}
}

func TestNotFound(t *testing.T) {
	srv, _ := newServer(t)
	did := newAccount(t, "alice.hearth.test", "https://pds.hearth.test").did
	for _, path := range []string{"/" + did, "/" + did + "/data", "/" + did + "/log", "/" + did + "/log/last", "/" + did + "/log/audit", "/" + did + "/nope"} {
		t.Run(path, func(t *testing.T) {
			var body struct{ Message string }
			if code := getJSON(t, srv.URL+path, &body); code != http.StatusNotFound || body.Message == "" {
				t.Errorf("status %d message %q, want 404 with a message", code, body.Message)
			}
		})
	}
	dir := identity.BaseDirectory{PLCURL: srv.URL}
	if _, err := dir.LookupDID(context.Background(), syntax.DID(did)); !errors.Is(err, identity.ErrDIDNotFound) {
		t.Errorf("LookupDID of unknown DID: %v, want ErrDIDNotFound", err)
	}
}

func TestClientErrors(t *testing.T) {
	_, c := newServer(t)
	ctx := context.Background()
	a := newAccount(t, "alice.hearth.test", "https://pds.hearth.test")
	submit(t, c, a.did, a.genesis)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	down := &plc.Client{URL: closedURL}

	forged := update(t, a.genesis, newKey(t), a.signing, "alice.hearth.test", "https://evil.hearth.test")
	other := newAccount(t, "bob.hearth.test", "https://pds.hearth.test")

	tests := []struct {
		name    string
		call    func() error
		want    error
		notWant error
	}{
		{"forged op rejected", func() error { return c.Submit(ctx, a.did, forged) }, plc.ErrRejected, plc.ErrUnreachable},
		{"closed port unreachable", func() error { return down.Submit(ctx, other.did, other.genesis) }, plc.ErrUnreachable, plc.ErrRejected},
		{"closed port unreachable on read", func() error { _, err := down.LastOp(ctx, a.did); return err }, plc.ErrUnreachable, plc.ErrNotFound},
		{"unknown DID not found", func() error { _, err := c.DocumentData(ctx, other.did); return err }, plc.ErrNotFound, plc.ErrRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) || errors.Is(err, tt.notWant) {
				t.Fatalf("err = %v, want %v (and not %v)", err, tt.want, tt.notWant)
			}
		})
	}
	// The directory's own message is part of the error.
	if err := c.Submit(ctx, a.did, forged); err == nil || !strings.Contains(err.Error(), "invalid operation") {
		t.Errorf("rejection lacks the directory's message: %v", err)
	}
}

func TestConcurrentSubmits(t *testing.T) {
	srv, c := newServer(t)
	ctx := context.Background()
	accounts := make([]account, 8)
	for i := range accounts {
		accounts[i] = newAccount(t, "user.hearth.test", "https://pds.hearth.test")
	}
	run := func(ops func(a account) [][]byte) []int {
		wins := make([]int, len(accounts))
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i, a := range accounts {
			for _, op := range ops(a) {
				wg.Go(func() {
					if c.Submit(ctx, a.did, op) == nil {
						mu.Lock()
						wins[i]++
						mu.Unlock()
					}
					// reads interleave with writes
					dir := identity.BaseDirectory{PLCURL: srv.URL, SkipHandleVerification: true}
					if _, err := dir.LookupDID(ctx, syntax.DID(a.did)); err != nil {
						t.Error(err)
					}
				})
			}
		}
		wg.Wait()
		return wins
	}

	// Racing duplicate genesis submits: exactly one per account wins.
	wins := run(func(a account) [][]byte { return [][]byte{a.genesis, a.genesis} })
	if slices.ContainsFunc(wins, func(n int) bool { return n != 1 }) {
		t.Fatalf("genesis wins per account = %v, want all 1", wins)
	}
	// Two competing updates on the same head: exactly one wins.
	wins = run(func(a account) [][]byte {
		return [][]byte{
			update(t, a.genesis, a.rotation, a.signing, "user.hearth.test", "https://moved.hearth.test"),
			update(t, a.genesis, a.rotation, a.signing, "user.hearth.test", "https://moved.hearth.test"),
		}
	})
	if slices.ContainsFunc(wins, func(n int) bool { return n != 1 }) {
		t.Fatalf("update wins per account = %v, want all 1", wins)
	}
	for _, a := range accounts {
		if got := lookup(t, srv.URL, a.did).PDSEndpoint(); got != "https://moved.hearth.test" {
			t.Errorf("%s PDS = %q", a.did, got)
		}
	}
}
