package pds_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/internal/plcdir"
	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/plc"
	"github.com/hearth-pds/hearth/pds/store"
)

var ctx = context.Background()

// switchPLC is a PLC directory that can be taken offline (503) and counts
// submitted operations.
type switchPLC struct {
	dir     *plcdir.Directory
	srv     *httptest.Server
	down    atomic.Bool
	mu      sync.Mutex
	submits int
}

func newSwitchPLC(t *testing.T) *switchPLC {
	s := &switchPLC{dir: plcdir.New()}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.down.Load() {
			http.Error(w, `{"message":"down"}`, http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodPost {
			s.mu.Lock()
			s.submits++
			s.mu.Unlock()
		}
		s.dir.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *switchPLC) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.submits
}

func resolve(t *testing.T, plcURL, did string) *identity.Identity {
	t.Helper()
	dir := &identity.BaseDirectory{PLCURL: plcURL, SkipHandleVerification: true}
	id, err := dir.LookupDID(ctx, syntax.DID(did))
	if err != nil {
		t.Fatalf("resolve %s: %v", did, err)
	}
	return id
}

func identityEvents(t *testing.T, e *pds.Engine, did string) int {
	evs, err := e.Events.Range(ctx, 0, 1000, 0, did)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Kind == "#identity" {
			n++
		}
	}
	return n
}

func TestPublishLateAndMove(t *testing.T) {
	sp := newSwitchPLC(t)
	sp.down.Store(true)
	p := testpds.Start(t, func(c *pds.Config) { c.PLCURL = sp.srv.URL })
	a := p.CreateAccount(t, "alice.test")
	if st, _ := p.Engine.Identity.PLCStatus(ctx, syntax.DID(a.DID)); st.Pending != 1 {
		t.Fatalf("genesis not pending while the directory is down: %+v", st)
	}

	// The tunnel comes up: genesis is published, then the move; same DID.
	sp.down.Store(false)
	n, err := p.Engine.Identity.SetPublicURL(ctx, "https://alice-pds.example.com")
	if err != nil || n != 1 {
		t.Fatalf("SetPublicURL = %d, %v", n, err)
	}
	id := resolve(t, sp.srv.URL, a.DID)
	if id.PDSEndpoint() != "https://alice-pds.example.com" {
		t.Fatalf("DID document endpoint = %q", id.PDSEndpoint())
	}
	if h, _ := id.DeclaredHandle(); h != "alice.test" {
		t.Fatalf("handle lost in the move: %s", h)
	}
	if st, _ := p.Engine.Identity.PLCStatus(ctx, syntax.DID(a.DID)); st.Pending != 0 || st.Published != 2 {
		t.Fatalf("after publishing: %+v", st)
	}
	if got := identityEvents(t, p.Engine, a.DID); got != 2 { // creation + move
		t.Fatalf("%d #identity events", got)
	}
	if doc, _ := p.Engine.Identity.DIDDocument(ctx, syntax.DID(a.DID)); !strings.Contains(docString(doc), "https://alice-pds.example.com") {
		t.Fatalf("served DID doc not updated: %v", doc)
	}

	// Same URL again (a reconnect): nothing is submitted.
	before := sp.count()
	if n, err := p.Engine.Identity.SetPublicURL(ctx, "https://alice-pds.example.com"); err != nil || n != 0 || sp.count() != before {
		t.Fatalf("unchanged URL caused %d updates, %d submissions", n, sp.count()-before)
	}
	if got := identityEvents(t, p.Engine, a.DID); got != 2 {
		t.Fatalf("unchanged URL emitted #identity (%d)", got)
	}
	// A new URL: exactly one more update.
	if n, err := p.Engine.Identity.SetPublicURL(ctx, "https://other.example.com"); err != nil || n != 1 || sp.count() != before+1 {
		t.Fatalf("new URL: %d updates, %d submissions", n, sp.count()-before)
	}
	if resolve(t, sp.srv.URL, a.DID).PDSEndpoint() != "https://other.example.com" {
		t.Fatal("second move not in the directory")
	}
}

func docString(doc map[string]any) string {
	var b strings.Builder
	for _, s := range doc["service"].([]map[string]any) {
		b.WriteString(s["serviceEndpoint"].(string))
	}
	return b.String()
}

func TestRefusedOperationIsReportedNotRetried(t *testing.T) {
	sp := newSwitchPLC(t)
	p := testpds.Start(t, func(c *pds.Config) { c.PLCURL = sp.srv.URL })
	a := p.CreateAccount(t, "alice.test")

	// The owner adds their own recovery key, then (outside Hearth) uses it
	// to publish an operation Hearth does not know about.
	own, _ := atcrypto.GeneratePrivateKeyK256()
	ownPub, _ := own.PublicKey()
	if err := p.Engine.Identity.AddRotationKey(ctx, syntax.DID(a.DID), ownPub.DIDKey()); err != nil {
		t.Fatal(err)
	}
	info, err := p.Engine.Identity.Info(ctx, syntax.DID(a.DID))
	if err != nil || len(info.RotationKeys) != 2 || info.RotationKeys[1] != ownPub.DIDKey() || info.Pending != 0 {
		t.Fatalf("identity after adding a key = %+v %v", info, err)
	}
	last, err := (&plc.Client{URL: sp.srv.URL, HTTP: http.DefaultClient}).LastOp(ctx, a.DID)
	if err != nil {
		t.Fatal(err)
	}
	sigKey, _ := atcrypto.ParsePublicDIDKey(info.SigningKey)
	external, err := plc.UpdateOp(last, own, sigKey, "alice.test", "https://elsewhere.example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&plc.Client{URL: sp.srv.URL, HTTP: http.DefaultClient}).Submit(ctx, a.DID, external); err != nil {
		t.Fatalf("external op: %v", err)
	}
	// Hearth's next update chains on the op before the external one; its key
	// has priority, so within the 72 h window the directory lets it win
	// (PLC recovery) and the DID points at Hearth again.
	if _, err := p.Engine.Identity.SetPublicURL(ctx, "https://new.example.com"); err != nil {
		t.Fatal(err)
	}
	if got := resolve(t, sp.srv.URL, a.DID).PDSEndpoint(); got != "https://new.example.com" {
		t.Fatalf("after recovery the DID points at %s", got)
	}

	// A forged operation (tampered after signing, as a corrupted store
	// would hold it) is refused by the directory, reported, not retried.
	sp.down.Store(true)
	if _, err := p.Engine.Identity.SetPublicURL(ctx, "https://third.example.com"); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, filepath.Join(p.Config.DataDir, "hearth.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.W.Exec("UPDATE plc_op SET op = replace(op, 'third.example.com', 'evil.example.com') WHERE did = ? AND published = 0", a.DID); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	sp.down.Store(false)
	before := sp.count()
	p.Engine.Identity.PublishPending(ctx)
	st, _ := p.Engine.Identity.PLCStatus(ctx, syntax.DID(a.DID))
	if st.Refused != 1 || st.LastError == "" {
		t.Fatalf("refusal not reported: %+v", st)
	}
	p.Engine.Identity.PublishPending(ctx)
	p.Engine.Identity.PublishPending(ctx)
	if got := sp.count() - before; got != 1 {
		t.Fatalf("refused op submitted %d times", got)
	}
	if got := resolve(t, sp.srv.URL, a.DID).PDSEndpoint(); got != "https://new.example.com" {
		t.Fatalf("a refused op changed the DID: %s", got)
	}
	// An op signed with a key that is not a rotation key is refused too.
	stranger, _ := atcrypto.GeneratePrivateKeyK256()
	last, _ = (&plc.Client{URL: sp.srv.URL, HTTP: http.DefaultClient}).LastOp(ctx, a.DID)
	forged, _ := plc.UpdateOp(last, stranger, sigKey, "evil.test", "https://evil.example.com", nil)
	err = (&plc.Client{URL: sp.srv.URL, HTTP: http.DefaultClient}).Submit(ctx, a.DID, forged)
	if !errors.Is(err, plc.ErrRejected) {
		t.Fatalf("the directory did not refuse a forged operation: %v", err)
	}
}

func TestRecoveryKeyExport(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	priv, didKey, err := p.Engine.Identity.RecoveryKey(ctx, syntax.DID(a.DID))
	if err != nil || len(priv) != 64 || !strings.HasPrefix(didKey, "did:key:z") {
		t.Fatalf("recovery key = %q %q %v", priv, didKey, err)
	}
	info, _ := p.Engine.Identity.Info(ctx, syntax.DID(a.DID))
	if info.RotationKeys[0] != didKey {
		t.Fatalf("exported key %s is not the first rotation key %v", didKey, info.RotationKeys)
	}
}

func TestPruneEventsByAge(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	for i := 0; i < 5; i++ {
		if err := c.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post",
			"record": map[string]any{"text": "x", "createdAt": "2026-11-22T10:00:00Z"}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	last, _ := p.Engine.Events.LastSeq(ctx)
	// Nothing is older than an hour ago.
	if n, err := p.Engine.Events.Prune(ctx, time.Now().Add(-time.Hour), 0, last); err != nil || n != 0 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	// Everything is older than a second from now; protect keeps the tail.
	if n, err := p.Engine.Events.Prune(ctx, time.Now().Add(time.Second), 0, last-2); err != nil || n != last-2 {
		t.Fatalf("pruned %d (want %d), %v", n, last-2, err)
	}
	if oldest, _ := p.Engine.Events.OldestSeq(ctx); oldest != last-1 {
		t.Fatalf("oldest = %d", oldest)
	}
}

// A recovery key made for the user ranks above Hearth's key, is never
// stored, and lets the user take the identity back without this machine:
// an operation it signs overrides one Hearth's key signed after it.
func TestCreateRecoveryKeyOutranksHearth(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	did := syntax.DID(a.DID)
	before, _ := p.Engine.Identity.Info(ctx, did)
	hearthKey := before.RotationKeys[0]

	_, didKey, err := p.Engine.Identity.CreateRecoveryKey(ctx, did)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := p.Engine.Identity.Info(ctx, did)
	if len(info.RotationKeys) != 2 || info.RotationKeys[0] != didKey || info.RotationKeys[1] != hearthKey || info.Pending != 0 {
		t.Fatalf("rotation keys after CreateRecoveryKey = %v (pending %d), want [%s %s]", info.RotationKeys, info.Pending, didKey, hearthKey)
	}
	if got, _ := p.Engine.Identity.UserRecoveryKey(ctx, did); got != didKey {
		t.Fatalf("UserRecoveryKey = %q", got)
	}
	// A second key replaces the first (the user lost it, say).
	privHex, didKey, err := p.Engine.Identity.CreateRecoveryKey(ctx, did)
	if err != nil {
		t.Fatal(err)
	}
	info, _ = p.Engine.Identity.Info(ctx, did)
	if len(info.RotationKeys) != 2 || info.RotationKeys[0] != didKey || info.RotationKeys[1] != hearthKey {
		t.Fatalf("after a second key: %v", info.RotationKeys)
	}
	// The private half is nowhere in the data folder.
	raw, _ := hex.DecodeString(privHex)
	_ = filepath.WalkDir(p.Config.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, raw) || bytes.Contains(b, []byte(privHex)) {
			t.Errorf("the recovery key's private half is stored in %s", path)
		}
		return nil
	})

	// Hearth's key signs a later operation; the user's key overrides it.
	plcc := &plc.Client{URL: p.PLC.URL, HTTP: http.DefaultClient}
	afterCreate, err := plcc.LastOp(ctx, a.DID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Engine.Identity.SetPublicURL(ctx, "https://taken.example.com"); err != nil {
		t.Fatal(err)
	}
	if got := resolve(t, p.PLC.URL, a.DID).PDSEndpoint(); got != "https://taken.example.com" {
		t.Fatalf("Hearth's update not published: %s", got)
	}
	userKey, err := atcrypto.ParsePrivateBytesK256(raw)
	if err != nil {
		t.Fatal(err)
	}
	sigKey, _ := atcrypto.ParsePublicDIDKey(info.SigningKey)
	rescue, err := plc.UpdateOp(afterCreate, userKey, sigKey, "alice.test", "https://rescued.example.com", info.RotationKeys)
	if err != nil {
		t.Fatal(err)
	}
	if err := plcc.Submit(ctx, a.DID, rescue); err != nil {
		t.Fatalf("the directory refused the recovery key's operation: %v", err)
	}
	if got := resolve(t, p.PLC.URL, a.DID).PDSEndpoint(); got != "https://rescued.example.com" {
		t.Fatalf("after recovery the DID points at %s", got)
	}

}
