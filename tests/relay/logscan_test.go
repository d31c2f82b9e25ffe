package relay_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScanLogFlagsRelayComplaints checks the log scanner against the
// messages indigo's relay logs when it drops, distrusts or only partially
// verifies an event (it needs no relay binary).
func TestScanLogFlagsRelayComplaints(t *testing.T) {
	dids := map[string]string{"did:plc:a": "alice", "did:plc:b": "bob"}
	ok := []string{
		`{"level":"INFO","msg":"startup complete"}`,
		`{"level":"INFO","msg":"not verifying prevData or MST inversion for first commit from account","system":"relay"}`,
		`{"level":"INFO","msg":"not verifying prevData or MST inversion for first commit from account","system":"relay"}`,
		`{"level":"DEBUG","msg":"prevData matched","did":"did:plc:a","rev":"3abc","prevData":"bafyx","computed":"bafyx"}`,
		`{"level":"INFO","msg":"finished persisting cursors","count":1,"err":null}`,
		`{"uri":"/xrpc/com.atproto.sync.getLatestCommit?did=did%3Aplc%3Aa","status":404,"error":""}`,
		`2026/11/22 09:35:39 maxprocs: Leaving GOMAXPROCS=2: CPU quota undefined`,
	}
	bad := []string{
		`{"level":"INFO","msg":"not verifying prevData or MST inversion for first commit from account","system":"relay"}`, // a third one
		`{"level":"WARN","msg":"commit with miss-matching prevData","did":"did:plc:a"}`,
		`{"level":"WARN","msg":"failed to invert commit MST","did":"did:plc:a","err":"x"}`,
		`{"level":"INFO","msg":"dropping message for inactive account","did":"did:plc:b"}`,
		`{"level":"INFO","msg":"prevData was null; skipping tree root check","did":"did:plc:a"}`,
		`{"level":"INFO","msg":"can't invert legacy op","did":"did:plc:a"}`,
		`{"level":"ERROR","msg":"failed handling event","did":"did:plc:a","err":"x"}`,
		`{"level":"DEBUG","msg":"prevData matched","did":"did:plc:a","rev":"3abd","prevData":"bafyx","computed":"bafyy"}`,
		`{"level":"INFO","msg":"allowing commit message which failed strict validation","problem":"x"}`,
		`{"level":"WARN","msg":"skipping commit signature validation","reason":"ident unavailable"}`,
		`{"uri":"/xrpc/com.atproto.sync.listRepos","status":500,"error":"boom"}`,
		`panic: runtime error`,
	}
	path := filepath.Join(t.TempDir(), "relay.log")
	if err := os.WriteFile(path, []byte(strings.Join(append(ok, bad...), "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	flagged, matched := scanLog(t, path, dids, false)
	if len(flagged) != len(bad) {
		t.Errorf("flagged %d lines, want %d:\n%s", len(flagged), len(bad), strings.Join(flagged, "\n"))
	}
	for i := range flagged {
		if i < len(bad) && flagged[i] != bad[i] {
			t.Errorf("flagged line %d is %s, want %s", i, flagged[i], bad[i])
		}
	}
	if !matched["did:plc:a 3abc"] || matched["did:plc:a 3abd"] || len(matched) != 1 {
		t.Errorf("matched = %v", matched)
	}
	// errorsOnly (the schema-creating run): ERROR level, 5xx and panics only
	if flagged, _ := scanLog(t, path, dids, true); len(flagged) != 3 {
		t.Errorf("errorsOnly flagged %d lines, want 3:\n%s", len(flagged), strings.Join(flagged, "\n"))
	}
}
