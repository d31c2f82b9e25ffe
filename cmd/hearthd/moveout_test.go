package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/hearth-pds/hearth/internal/plcdir"
)

// TestCLIOutboxListWhileServing asks a running hearthd for a PLC token over
// XRPC and reads it with `hearthd outbox list` on the same folder while the
// server holds it; the token then signs a PLC operation.
func TestCLIOutboxListWhileServing(t *testing.T) {
	plc := httptest.NewServer(plcdir.New())
	t.Cleanup(plc.Close)
	ctx := context.Background()
	dir := t.TempDir()
	port := freePort(t)
	url := fmt.Sprintf("http://localhost:%d", port)
	common := []string{"--data-dir", dir, "--public-url", url, "--plc-url", plc.URL, "--key-store", "file"}
	out, stderr, err := runChild(t, append([]string{"account", "create", "--handle", "ob.test", "--password", "outbox-pw-123", "--email", "ob@example.com"}, common...)...)
	if err != nil {
		t.Fatalf("account create: %v\n%s", err, stderr)
	}
	did := strings.TrimSpace(out)
	srv := startServe(t, port, common)

	if out, _, err := runChild(t, "outbox", "list", "--data-dir", dir); err != nil || out != "" {
		t.Fatalf("empty outbox: %q %v", out, err)
	}
	c, err := atclient.LoginWithPasswordHost(ctx, url, "ob.test", "outbox-pw-123", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Post(ctx, "com.atproto.identity.requestPlcOperationSignature", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Post(ctx, "com.atproto.server.requestAccountDelete", nil, nil); err != nil {
		t.Fatal(err)
	}
	out, stderr, err = runChild(t, "outbox", "list", "--data-dir", dir)
	if err != nil {
		t.Fatalf("outbox list while serving: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("outbox list printed %d lines:\n%s", len(lines), out)
	}
	var plcToken string
	for _, l := range lines {
		var m map[string]string
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		for _, k := range []string{"did", "purpose", "token", "created_at", "expires_at"} {
			if m[k] == "" {
				t.Errorf("line %q has no %s", l, k)
			}
		}
		exp, err := time.Parse(time.RFC3339Nano, m["expires_at"])
		if m["did"] != did || err != nil || !exp.After(time.Now()) {
			t.Errorf("line %q: wrong did or expiry", l)
		}
		if strings.Contains(m["purpose"], "plc") {
			plcToken = m["token"]
		}
	}
	// The token from the command line is the one the server checks.
	key, _ := atcrypto.GeneratePrivateKeyK256()
	pub, _ := key.PublicKey()
	var signed struct{ Operation json.RawMessage }
	err = c.Post(ctx, "com.atproto.identity.signPlcOperation", map[string]any{"token": plcToken,
		"verificationMethods": map[string]string{"atproto": pub.DIDKey()}}, &signed)
	if err != nil || len(signed.Operation) == 0 {
		t.Fatalf("signPlcOperation with the listed token: %v", err)
	}
	stopServe(t, srv)

	// account recovery-key prints Hearth's rotation key, which signed it.
	var stdout, warn strings.Builder
	if err := run(ctx, append([]string{"account", "recovery-key", "--did", did}, common...), &stdout, &warn); err != nil {
		t.Fatalf("account recovery-key: %v", err)
	}
	if !strings.Contains(warn.String(), "WARNING") || strings.Contains(warn.String(), "hex") {
		t.Errorf("stderr: %q", warn.String())
	}
	var hexKey, didKey string
	for _, line := range strings.Split(stdout.String(), "\n") {
		if k, ok := strings.CutPrefix(line, "private key (secp256k1, hex): "); ok {
			hexKey = k
		}
		if k, ok := strings.CutPrefix(line, "public key: "); ok {
			didKey = k
		}
	}
	priv, err := atcrypto.ParsePrivateBytesK256(mustDecodeHex(t, hexKey))
	if err != nil {
		t.Fatalf("printed key %q: %v", hexKey, err)
	}
	if p, _ := priv.PublicKey(); p.DIDKey() != didKey {
		t.Fatalf("the printed private and public keys do not match")
	}
	if !strings.Contains(string(signed.Operation), didKey) {
		t.Errorf("the printed key is not among the identity's rotation keys: %s", signed.Operation)
	}
	if err := run(ctx, append([]string{"account", "recovery-key", "--did", "did:plc:nobodyhereatallxxxxxxxxx"}, common...), &stdout, &warn); err == nil {
		t.Error("an unknown DID was accepted")
	}
}

func mustDecodeHex(t *testing.T, s string) []byte {
	t.Helper()
	b := make([]byte, len(s)/2)
	if _, err := fmt.Sscanf(s, "%x", &b); err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}
