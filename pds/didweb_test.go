package pds_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds"
)

// TestDIDWeb: an owner of a domain (here example.com, which the TLS test
// server's certificate covers) chooses did:web; indigo resolves it through
// https://example.com/.well-known/did.json served by Hearth, and the repo's
// signatures verify against it.
func TestDIDWeb(t *testing.T) {
	p := testpds.Start(t, nil)
	tlsSrv := httptest.NewTLSServer(p.Server)
	t.Cleanup(tlsSrv.Close)
	client := tlsSrv.Client()
	tr := client.Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, tlsSrv.Listener.Addr().String())
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: client.Transport.(*http.Transport).TLSClientConfig.RootCAs}
	dir := &identity.BaseDirectory{HTTPClient: http.Client{Transport: tr}, SkipHandleVerification: true}

	acc, err := p.Engine.CreateAccount(ctx, pds.NewAccount{Handle: "me.example.com", Password: "password123", DIDWeb: "Example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if acc.DID != "did:web:example.com" {
		t.Fatalf("DID = %s", acc.DID)
	}
	if _, err := p.Engine.CreateAccount(ctx, pds.NewAccount{Handle: "other.example.com", Password: "password123", DIDWeb: "example.com"}); err == nil {
		t.Fatal("a second account with the same did:web")
	}
	if _, err := p.Engine.CreateAccount(ctx, pds.NewAccount{Handle: "x.example.com", Password: "password123", DIDWeb: "https://bad/"}); err == nil {
		t.Fatal("a URL accepted as a did:web domain")
	}
	id, err := dir.LookupDID(ctx, syntax.DID(acc.DID))
	if err != nil {
		t.Fatalf("resolve did:web: %v", err)
	}
	if id.PDSEndpoint() != p.URL {
		t.Fatalf("endpoint %s", id.PDSEndpoint())
	}
	if h, _ := id.DeclaredHandle(); h != "me.example.com" {
		t.Fatalf("handle %s", h)
	}
	st, _ := p.Engine.Identity.PLCStatus(ctx, syntax.DID(acc.DID))
	if st.Published+st.Pending+st.Refused != 0 {
		t.Fatalf("did:web has PLC operations: %+v", st)
	}
	// Posts verify against the key in the did:web document.
	testpds.VerifyRepoCAR(t, dir, p.GetRepo(t, acc.DID.String(), ""))

	// Moving: no operation to sign, one #identity, the document follows.
	n, err := p.Engine.Identity.SetPublicURL(ctx, "https://pds.example.com")
	if err != nil || n != 1 {
		t.Fatalf("move: %d %v", n, err)
	}
	if n, _ := p.Engine.Identity.SetPublicURL(ctx, "https://pds.example.com"); n != 0 {
		t.Fatal("same URL counted as a move")
	}
	dir2 := &identity.BaseDirectory{HTTPClient: http.Client{Transport: tr}, SkipHandleVerification: true}
	id, err = dir2.LookupDID(ctx, syntax.DID(acc.DID))
	if err != nil || id.PDSEndpoint() != "https://pds.example.com" {
		t.Fatalf("after the move: %v %v", id, err)
	}
	if _, _, err := p.Engine.Identity.RecoveryKey(ctx, syntax.DID(acc.DID)); err == nil {
		t.Fatal("did:web has no recovery key")
	}
	// Unknown hosts get 404.
	req, _ := http.NewRequest("GET", p.URL+"/.well-known/did.json", nil)
	req.Host = "nobody.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("unknown host: %v %v", resp, err)
	}
	resp.Body.Close()
}
