package app

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"net/http/httptest"

	"github.com/hearth-pds/hearth/internal/plcdir"
	"github.com/hearth-pds/hearth/tunnel"
)

func waitOnline(t *testing.T, a *App) *PublishStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, err := a.PublishingStatus()
		if err != nil {
			t.Fatal(err)
		}
		if st.Tunnel.State == tunnel.Online && st.Pending == 0 && st.PDSEndpoint == st.Tunnel.URL {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, _ := a.PublishingStatus()
	t.Fatalf("never online and published: %+v", st)
	return nil
}

func TestPublishPanel(t *testing.T) {
	plc := httptest.NewServer(plcdir.New())
	t.Cleanup(plc.Close)
	dns := &syncDNS{m: map[string]string{}} // the outside checker reads it meanwhile
	dataDir := filepath.Join(t.TempDir(), "data")
	a := New(Config{DataDir: dataDir, PLCURL: plc.URL, HandleResolver: dns})
	ui := &fakeUI{}
	if err := Start(context.Background(), a, ui); err != nil {
		t.Fatal(err)
	}
	defer func() { Shutdown(context.Background(), a) }()
	acc, err := a.CreateAccount("me.test", "password123", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.StartPublishing(PublishConfig{Kind: "byo", URL: "http://pds.example.com"}); err == nil {
		t.Fatal("plain-http public URL accepted")
	}
	if _, err := a.StartPublishing(PublishConfig{Kind: "carrier-pigeon"}); err == nil {
		t.Fatal("unknown kind accepted")
	}
	if _, err := a.StartPublishing(PublishConfig{Kind: "loopback", Relays: []string{"http://127.0.0.1:9"}}); err != nil {
		t.Fatal(err)
	}
	st := waitOnline(t, a)
	status, _ := a.Status()
	if status.PublicURL != st.Tunnel.URL || len(status.RelayCrawl) != 1 {
		t.Fatalf("status panel: %+v", status)
	}

	checks, err := a.SelfCheck()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		wantOK := c.Name != "Your handle resolves to your DID" // no DNS record yet
		if c.OK != wantOK || (!c.OK && c.Hint == "") {
			t.Errorf("check %+v", c)
		}
	}
	// Domain handle: instructions, refused until the record exists.
	ins, err := a.HandleSetup("@Me.Example.com")
	if err != nil || ins.DNSName != "_atproto.me.example.com" || ins.DNSValue != "did="+acc.DID {
		t.Fatalf("instructions = %+v %v", ins, err)
	}
	if _, err := a.SetHandle("me.example.com"); err == nil || !strings.Contains(err.Error(), "does not resolve") || !strings.Contains(err.Error(), "_atproto.me.example.com") {
		t.Fatalf("unverified handle: %v", err)
	}
	dns.set("me.example.com", "did:plc:someoneelse")
	if _, err := a.SetHandle("me.example.com"); err == nil {
		t.Fatal("handle of someone else accepted")
	}
	dns.set("me.example.com", acc.DID)
	info, err := a.SetHandle("me.example.com")
	if err != nil || info.Handle != "me.example.com" {
		t.Fatalf("verified handle: %+v %v", info, err)
	}

	rk, err := a.ExportRecoveryKey()
	if err != nil || len(rk.PrivateKeyHex) != 64 || rk.Warning == "" {
		t.Fatalf("recovery key = %+v %v", rk, err)
	}
	if err := a.AddRotationKey("not a key"); err == nil {
		t.Fatal("bad rotation key accepted")
	}

	// Restarting the app resumes publishing.
	Shutdown(context.Background(), a)
	a2 := New(Config{DataDir: dataDir, PLCURL: plc.URL, HandleResolver: dns})
	if err := Start(context.Background(), a2, ui); err != nil {
		t.Fatal(err)
	}
	defer Shutdown(context.Background(), a2)
	waitOnline(t, a2)
	if err := a2.StopPublishing(); err != nil {
		t.Fatal(err)
	}
	if st, _ := a2.PublishingStatus(); st.Tunnel.State != tunnel.Stopped {
		t.Fatalf("after stop: %+v", st.Tunnel)
	}
}
