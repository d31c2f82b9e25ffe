package testpds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/repo/mst"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/internal/plcdir"
	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/edge"
	"github.com/hearth-pds/hearth/pds/secrets"
	"github.com/hearth-pds/hearth/pds/xrpc"
)

// PDS is a running test server.
type PDS struct {
	Engine *pds.Engine
	URL    string // http://localhost:PORT
	PLC    *httptest.Server
	Dir    identity.Directory
	Config pds.Config
	Opts   xrpc.Options
	Server *xrpc.Server
	srv    *http.Server
	ln     net.Listener
	tb     testing.TB // the test that started it; Stop reports to it
	served chan error // srv.Serve's result
}

// Start starts a PDS; tweak adjusts its config before it opens.
func Start(t testing.TB, tweak func(*pds.Config)) *PDS {
	return StartWithOptions(t, tweak, xrpc.Options{})
}

// StartWithOptions also sets the HTTP server's options.
func StartWithOptions(t testing.TB, tweak func(*pds.Config), opts xrpc.Options) *PDS {
	t.Helper()
	plc := httptest.NewServer(plcdir.New())
	t.Cleanup(plc.Close)
	return startWith(t, t.TempDir(), plc, tweak, opts, "127.0.0.1:0")
}

// StartThroughTunnel is StartWithOptions with the server the tunnel uses
// (edge.NewTunnelServer): every request counts as a stranger's from the
// address the tunnel reports, so per-address limits apply as they do in
// production (direct loopback connections are exempt from them).
func StartThroughTunnel(t testing.TB, opts xrpc.Options) *PDS {
	t.Helper()
	plc := httptest.NewServer(plcdir.New())
	t.Cleanup(plc.Close)
	return startOn(t, t.TempDir(), plc, nil, opts, "127.0.0.1:0", true)
}

func startWith(t testing.TB, dataDir string, plc *httptest.Server, tweak func(*pds.Config), opts xrpc.Options, addr string) *PDS {
	t.Helper()
	return startOn(t, dataDir, plc, tweak, opts, addr, false)
}

func startOn(t testing.TB, dataDir string, plc *httptest.Server, tweak func(*pds.Config), opts xrpc.Options, addr string, tunnel bool) *PDS {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	level := slog.LevelWarn
	if os.Getenv("HEARTH_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	cfg := pds.Config{
		DataDir:   dataDir,
		PublicURL: url,
		PLCURL:    plc.URL,
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		// Tests never touch the developer's OS keyring.
		KeyStore: secrets.StoreFile,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	e, err := pds.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := xrpc.New(e, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := edge.NewServer(h)
	if tunnel {
		srv = edge.NewTunnelServer(h)
	}
	served := make(chan error, 1)
	go func() {
		// Not t.Error here: this goroutine may outlive the test. Log an
		// unexpected failure now, and let Stop report it to the test.
		err := srv.Serve(ln)
		if !errors.Is(err, http.ErrServerClosed) {
			e.Logger().Error("testpds: serve", "err", err)
		}
		served <- err
	}()
	p := &PDS{Engine: e, Server: h, URL: url, PLC: plc, Config: cfg, Opts: opts, srv: srv, ln: ln, tb: t, served: served,
		Dir: &identity.BaseDirectory{PLCURL: plc.URL, SkipHandleVerification: true}}
	t.Cleanup(p.Stop)
	return p
}

// Stop shuts the server and engine down (idempotent), reporting any
// failure to the test that started the PDS. Call it from that test's
// goroutine (or its cleanup), as t.Cleanup does.
func (p *PDS) Stop() {
	if p.srv == nil {
		return
	}
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		p.tb.Errorf("testpds: shut down the HTTP server: %v", err)
	}
	// Shutdown closed the listener, so Serve has returned.
	if err := <-p.served; !errors.Is(err, http.ErrServerClosed) {
		p.tb.Errorf("testpds: serve: %v", err)
	}
	p.Server.Close()
	if err := p.Engine.Close(); err != nil {
		p.tb.Errorf("testpds: close the engine: %v", err)
	}
	p.srv = nil
}

// Restart stops the PDS and opens a new one on the same data dir, PLC and
// port (so the public URL stays the same).
func (p *PDS) Restart(t testing.TB) *PDS {
	addr := p.ln.Addr().String()
	p.Stop()
	cfg := p.Config
	return startWith(t, cfg.DataDir, p.PLC, func(c *pds.Config) { *c = cfg }, p.Opts, addr)
}

// Account is a test account.
type Account struct {
	DID      string
	Handle   string
	Password string
}

// CreateAccount creates an account through the engine API (like the CLI).
func (p *PDS) CreateAccount(t testing.TB, handle string) Account {
	t.Helper()
	a, err := p.Engine.CreateAccount(context.Background(), pds.NewAccount{Handle: handle, Password: "password-" + handle, Email: handle + "@example.com"})
	if err != nil {
		t.Fatalf("create account %s: %v", handle, err)
	}
	return Account{DID: a.DID.String(), Handle: a.Handle.String(), Password: "password-" + handle}
}

// Login logs in through indigo's client, resolving the account's PDS
// from its DID document in the local PLC directory.
func (p *PDS) Login(t testing.TB, a Account) *atclient.APIClient {
	t.Helper()
	c, err := atclient.LoginWithPassword(context.Background(), p.Dir, syntax.AtIdentifier(a.DID), a.Password, "", nil)
	if err != nil {
		t.Fatalf("login %s: %v", a.Handle, err)
	}
	return c
}

// GetRepo downloads a repo CAR.
func (p *PDS) GetRepo(t testing.TB, did, since string) []byte {
	t.Helper()
	u := p.URL + "/xrpc/com.atproto.sync.getRepo?did=" + did
	if since != "" {
		u += "&since=" + since
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("getRepo: %d %s", resp.StatusCode, b)
	}
	return b
}

// VerifiedRepo is what VerifyRepoCAR found.
type VerifiedRepo struct {
	Commit  *repo.Commit
	Records map[string]cid.Cid // path -> cid
	Repo    *repo.Repo
}

// VerifyRepoCAR loads a full repo CAR with indigo, checks the commit
// signature against the key in the DID document resolved from dir,
// recomputes the MST root from the records, and checks every record's
// bytes hash to its CID.
func VerifyRepoCAR(t testing.TB, dir identity.Directory, car []byte) *VerifiedRepo {
	t.Helper()
	ctx := context.Background()
	commit, r, err := repo.LoadRepoFromCAR(ctx, bytes.NewReader(car))
	if err != nil {
		t.Fatalf("load repo CAR: %v", err)
	}
	if _, err := repo.VerifyCommitSignatureFromCar(ctx, dir, car); err != nil {
		t.Fatalf("commit signature: %v", err)
	}
	if r.MST.IsPartial() {
		t.Fatal("exported MST is partial")
	}
	if err := r.MST.Verify(); err != nil {
		t.Fatalf("exported MST structure: %v", err)
	}
	m := map[string]cid.Cid{}
	if err := r.MST.Walk(func(k []byte, v cid.Cid) error {
		m[string(k)] = v
		blk, err := r.RecordStore.Get(ctx, v)
		if err != nil {
			return fmt.Errorf("record %s: %w", k, err)
		}
		got, err := v.Prefix().Sum(blk.RawData())
		if err != nil || !got.Equals(v) {
			return fmt.Errorf("record %s: bytes hash to %s, not %s", k, got, v)
		}
		return nil
	}); err != nil && !r.MST.IsEmpty() {
		t.Fatal(err)
	}
	rebuilt, err := mst.LoadTreeFromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	root, err := rebuilt.RootCID()
	if err != nil {
		t.Fatal(err)
	}
	if !root.Equals(commit.Data) {
		t.Fatalf("MST root recomputed from records is %s, commit says %s", root, commit.Data)
	}
	return &VerifiedRepo{Commit: commit, Records: m, Repo: r}
}
