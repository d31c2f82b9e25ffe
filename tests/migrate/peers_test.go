package migrate_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	_ "modernc.org/sqlite"

	"github.com/hearth-pds/hearth/internal/plcdir"
)

// tools are the external programs the test drives.
type tools struct {
	goat    string // goat binary
	node    string // Node 22
	refpds  string // tests/refpds with node_modules installed
	hearthd string // hearthd binary
}

// skipOrFail skips, or fails when MIGRATE_REQUIRED=1 (scripts/test-migrate.sh:
// there a skip means the migration check did not run).
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("MIGRATE_REQUIRED") == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// findTools reads GOAT_BIN, NODE22_BIN, HEARTHD_BIN and REFPDS_DIR
// (default ../refpds), skipping (or failing) when one is missing.
func findTools(t *testing.T) tools {
	t.Helper()
	tl := tools{
		goat: os.Getenv("GOAT_BIN"), node: os.Getenv("NODE22_BIN"),
		hearthd: os.Getenv("HEARTHD_BIN"), refpds: os.Getenv("REFPDS_DIR"),
	}
	if tl.refpds == "" {
		abs, err := filepath.Abs("../refpds")
		if err != nil {
			t.Fatal(err)
		}
		tl.refpds = abs
	}
	for name, p := range map[string]string{"GOAT_BIN": tl.goat, "NODE22_BIN": tl.node, "HEARTHD_BIN": tl.hearthd} {
		if p == "" {
			skipOrFail(t, "%s is not set (run scripts/test-migrate.sh)", name)
		}
		if _, err := os.Stat(p); err != nil {
			skipOrFail(t, "%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(tl.refpds, "node_modules", "@atproto", "pds")); err != nil {
		skipOrFail(t, "the reference PDS is not installed in %s (run scripts/test-migrate.sh): %v", tl.refpds, err)
	}
	return tl
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatalf("free port: %v", err)
	}
	return port
}

// process is a child started by the test, stopped (SIGTERM, then SIGKILL)
// at cleanup; its output goes to a log file shown when the test fails.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProcess(t *testing.T, name, dir string, env []string, bin string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	return p
}

func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *process) dumpLog(t *testing.T) {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return
	}
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	t.Logf("---- tail of the %s log ----\n%s\n---- end of %s log ----", p.name, b, p.name)
}

// waitHealthy polls base/xrpc/_health until it answers 200.
func (p *process) waitHealthy(t *testing.T, base string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready", p.name)
		default:
		}
		resp, err := http.Get(base + "/xrpc/_health")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %s/xrpc/_health within %s", p.name, base, within)
}

// startPLC serves an in-memory did:plc directory (internal/plcdir, which
// verifies every operation) on loopback.
func startPLC(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(plcdir.New())
	t.Cleanup(srv.Close)
	// By name: the reference PDS's fetch refuses IP-literal hosts.
	return strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
}

// refPDS is a running reference PDS.
type refPDS struct {
	url     string
	dataDir string
	proc    *process
}

// startRefPDS runs tests/refpds/index.js on a free port with its own data
// folder, the local PLC, no invite codes and no SMTP (the tokens it would
// email stay in its account database).
func startRefPDS(t *testing.T, tl tools, name, plcURL string) *refPDS {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	rot, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PDS_HOSTNAME=localhost",
		fmt.Sprintf("PDS_PORT=%d", port),
		"PDS_SERVICE_DID=did:web:" + name + ".test",
		"PDS_SERVICE_NAME=" + name,
		"PDS_JWT_SECRET=" + hex.EncodeToString([]byte(name+"-jwt-secret")),
		"PDS_ADMIN_PASSWORD=" + name + "-admin",
		"PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX=" + hex.EncodeToString(rot.Bytes()),
		"PDS_DATA_DIRECTORY=" + dir,
		"PDS_BLOBSTORE_DISK_LOCATION=" + filepath.Join(dir, "blobs"),
		"PDS_DID_PLC_URL=" + plcURL,
		"PDS_DEV_MODE=true",
		"PDS_INVITE_REQUIRED=false",
		// Preferences are served only when an AppView is configured; it
		// is never called here.
		"PDS_BSKY_APP_VIEW_URL=http://127.0.0.1:9",
		"PDS_BSKY_APP_VIEW_DID=did:web:appview.test",
		"PDS_CRAWLERS=",
		"PDS_RATE_LIMITS_ENABLED=false",
		"LOG_ENABLED=true",
		"LOG_LEVEL=info",
	}
	p := startProcess(t, name, tl.refpds, env, tl.node, "index.js")
	r := &refPDS{url: fmt.Sprintf("http://localhost:%d", port), dataDir: dir, proc: p}
	p.waitHealthy(t, r.url, 60*time.Second)
	return r
}

// emailToken reads the token the reference would have emailed for purpose
// (e.g. plc_operation) from its account database.
func (r *refPDS) emailToken(t *testing.T, did, purpose string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(r.dataDir, "account.sqlite")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Errorf("close %s's account database: %v", r.proc.name, err)
		}
	}()
	var token string
	err = db.QueryRow(`SELECT token FROM email_token WHERE did = ? AND purpose = ?`, did, purpose).Scan(&token)
	if err != nil {
		t.Fatalf("%s token for %s in %s: %v", purpose, did, r.proc.name, err)
	}
	return token
}

// hearth is a running hearthd.
type hearth struct {
	url     string
	dataDir string
	bin     string
	invite  string
	proc    *process
}

// startHearth runs `hearthd serve` on a free port with a fresh data folder
// (file key store), the local PLC, no relays and an unreachable AppView.
func startHearth(t *testing.T, tl tools, plcURL string) *hearth {
	t.Helper()
	port := freePort(t)
	h := &hearth{url: fmt.Sprintf("http://localhost:%d", port), dataDir: t.TempDir(), bin: tl.hearthd}
	// Hearth asks for an invite code; the CLI creates it before serve starts.
	h.invite = strings.TrimSpace(h.cli(t, "invite", "create", "--key-store", "file", "--public-url", h.url, "--plc-url", plcURL))
	h.proc = startProcess(t, "hearthd", "", nil, tl.hearthd, "serve",
		"--data-dir", h.dataDir, "--key-store", "file",
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--public-url", h.url,
		"--plc-url", plcURL, "--relays", "", "--allow-private-network",
		"--appview-url", "http://127.0.0.1:9", "--appview-did", "did:web:appview.test")
	h.proc.waitHealthy(t, h.url, 60*time.Second)
	return h
}

// cli runs a hearthd subcommand on the data folder and returns its stdout.
func (h *hearth) cli(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(h.bin, append(args, "--data-dir", h.dataDir)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("hearthd %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// outboxToken takes the newest token whose purpose mentions purpose from
// `hearthd outbox list`.
func (h *hearth) outboxToken(t *testing.T, did, purpose string) string {
	t.Helper()
	out := h.cli(t, "outbox", "list", "--did", did)
	token := ""
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e struct {
			DID     string `json:"did"`
			Purpose string `json:"purpose"`
			Token   string `json:"token"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("outbox line %q: %v", line, err)
		}
		if e.DID == did && strings.Contains(e.Purpose, purpose) {
			token = e.Token
		}
	}
	if token == "" {
		t.Fatalf("no %s token for %s in the outbox:\n%s", purpose, did, out)
	}
	return token
}

// goat runs goat with its own session folder (XDG_STATE_HOME), so that two
// logins in one test do not share a session.
type goat struct {
	bin   string
	state string
	plc   string
}

func newGoat(t *testing.T, bin, plcURL string) *goat {
	return &goat{bin: bin, state: t.TempDir(), plc: plcURL}
}

func (g *goat) run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.bin, args...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+g.state, "HOME="+g.state, "ATP_PLC_HOST="+g.plc, "GOAT_LOG_LEVEL=info")
	out, err := cmd.CombinedOutput()
	t.Logf("goat %s:\n%s", redact(args), out)
	if err != nil {
		t.Fatalf("goat %s: %v", redact(args), err)
	}
	return string(out)
}

// redact hides passwords and tokens in logged goat command lines.
func redact(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if i > 0 {
			switch args[i-1] {
			case "-p", "--app-password", "--new-password", "--plc-token", "--invite-code":
				out[i] = "***"
			}
		}
	}
	return strings.Join(out, " ")
}

// ---------------------------------------------------------------------------
// A minimal XRPC client

type xrpcError struct {
	Status  int
	Name    string `json:"error"`
	Message string `json:"message"`
}

func (e *xrpcError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Name, e.Message)
}

type client struct {
	base  string
	token string
}

func (c *client) do(method, nsid string, params url.Values, body io.Reader, ctype string, out any) error {
	u := c.base + "/xrpc/" + nsid
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", nsid, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: %w", nsid, err)
	}
	if resp.StatusCode != http.StatusOK {
		xe := &xrpcError{Status: resp.StatusCode}
		_ = json.Unmarshal(raw, xe)
		if xe.Message == "" {
			xe.Message = string(raw)
		}
		return fmt.Errorf("%s: %w", nsid, xe)
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*o = raw
		return nil
	default:
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s: decode %q: %w", nsid, raw, err)
		}
		return nil
	}
}

func (c *client) get(nsid string, params url.Values, out any) error {
	return c.do(http.MethodGet, nsid, params, nil, "", out)
}

func (c *client) post(nsid string, in, out any) error {
	var body io.Reader
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	return c.do(http.MethodPost, nsid, nil, body, ctype, out)
}
