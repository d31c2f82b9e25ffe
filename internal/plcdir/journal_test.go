package plcdir_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-pds/hearth/internal/plcdir"
	"github.com/hearth-pds/hearth/pds/plc"
)

func openJournaled(t *testing.T, path string) (*httptest.Server, *plc.Client, *plcdir.Journaled) {
	t.Helper()
	j, err := plcdir.OpenJournaled(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(j)
	return srv, &plc.Client{URL: srv.URL, HTTP: srv.Client()}, j
}

// A journaled directory keeps accepted operations (and only those) across
// a restart, verified again on replay; a last line cut short by a crash is
// dropped, a damaged line elsewhere stops the open.
func TestJournalKeepsOpsAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plc.jsonl")
	srv, c, j := openJournaled(t, path)
	a := newAccount(t, "alice.hearth.test", "http://127.0.0.1:2583")
	submit(t, c, a.did, a.genesis)
	moved := update(t, a.genesis, a.rotation, a.signing, "alice2.hearth.test", "http://127.0.0.1:2584")
	submit(t, c, a.did, moved)
	// A refused op (replayed genesis) is not journaled.
	if err := c.Submit(context.Background(), a.did, a.genesis); err == nil {
		t.Fatal("duplicate genesis accepted")
	}
	srv.Close()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || strings.Count(string(data), "\n") != 2 {
		t.Fatalf("journal: %q %v", data, err)
	}

	// A crash mid-append leaves half a line: dropped on open.
	if err := os.WriteFile(path, append(data, []byte(`{"did":"did:plc:x","op":{"ty`)...), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, c, j = openJournaled(t, path)
	got := lookup(t, srv.URL, a.did)
	if h, err := got.DeclaredHandle(); got.PDSEndpoint() != "http://127.0.0.1:2584" || err != nil || h.String() != "alice2.hearth.test" {
		t.Fatalf("after restart: %s %s %v", got.PDSEndpoint(), h, err)
	}
	// It keeps accepting, after the last op.
	submit(t, c, a.did, update(t, moved, a.rotation, a.signing, "alice3.hearth.test", "http://127.0.0.1:2584"))
	srv.Close()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	data, err = os.ReadFile(path)
	if err != nil || strings.Count(string(data), "\n") != 3 || !strings.HasSuffix(string(data), "}\n") {
		t.Fatalf("journal after the restart: %q %v", data, err)
	}

	// A damaged line in the middle is an error, not silently skipped.
	lines := strings.SplitAfter(string(data), "\n")
	lines[1] = "not json\n"
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := plcdir.OpenJournaled(context.Background(), path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("damaged journal opened: %v", err)
	}
}
