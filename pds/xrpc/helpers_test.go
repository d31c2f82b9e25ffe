package xrpc_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/bluesky-social/indigo/atproto/syntax"
	cbg "github.com/whyrusleeping/cbor-gen"

	"github.com/hearth-pds/hearth/internal/testpds"
)

var ctx = context.Background()

// apiErr asserts err is an XRPC error with the given status and name.
func apiErr(t *testing.T, err error, status int, name string) {
	t.Helper()
	var ae *atclient.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want XRPC error %d %s, got %v", status, name, err)
	}
	if ae.StatusCode != status || ae.Name != name {
		t.Fatalf("want XRPC error %d %s, got %d %s: %s", status, name, ae.StatusCode, ae.Name, ae.Message)
	}
}

// raw does a plain HTTP request and returns status, headers and body.
func raw(t *testing.T, method, url, token, ctype string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// xrpcErr checks a raw response is a JSON XRPC error.
func xrpcErr(t *testing.T, status int, body []byte, wantStatus int, wantName string) {
	t.Helper()
	var e struct{ Error, Message string }
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %q", body)
	}
	if status != wantStatus || e.Error != wantName || e.Message == "" {
		t.Fatalf("want %d %s, got %d %s (%q)", wantStatus, wantName, status, e.Error, e.Message)
	}
}

func tokens(c *atclient.APIClient) (string, string) {
	return c.Auth.(*atclient.PasswordAuth).GetTokens()
}

func post(text string) map[string]any {
	return map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": syntax.DatetimeNow().String()}
}

type createOut struct {
	URI              string `json:"uri"`
	CID              string `json:"cid"`
	ValidationStatus string `json:"validationStatus"`
	Commit           struct {
		CID string `json:"cid"`
		Rev string `json:"rev"`
	} `json:"commit"`
}

func create(t *testing.T, c *atclient.APIClient, did, col string, rec map[string]any) createOut {
	t.Helper()
	var out createOut
	if err := c.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": did, "collection": col, "record": rec}, &out); err != nil {
		t.Fatalf("createRecord: %v", err)
	}
	return out
}

// mustVerify exports the repo and verifies it fully; returns the records.
func mustVerify(t *testing.T, p *testpds.PDS, did string) *testpds.VerifiedRepo {
	t.Helper()
	return testpds.VerifyRepoCAR(t, p.Dir, p.GetRepo(t, did, ""))
}

func rkeyOf(uri string) string { return uri[strings.LastIndex(uri, "/")+1:] }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeCommitFrame(t *testing.T, frame []byte) *comatproto.SyncSubscribeRepos_Commit {
	t.Helper()
	r := bytes.NewReader(frame)
	var hdr cbg.Deferred
	if err := hdr.UnmarshalCBOR(r); err != nil {
		t.Fatalf("frame header: %v", err)
	}
	h, err := atdata.UnmarshalCBOR(hdr.Raw)
	if err != nil || h["op"] != int64(1) || h["t"] != "#commit" {
		t.Fatalf("frame header = %v, %v", h, err)
	}
	var body comatproto.SyncSubscribeRepos_Commit
	if err := body.UnmarshalCBOR(r); err != nil {
		t.Fatalf("frame body: %v", err)
	}
	if r.Len() != 0 {
		t.Fatalf("%d trailing bytes after the frame body", r.Len())
	}
	return &body
}

func rawHost(t *testing.T, url, host string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func syntaxDID(s string) syntax.DID { return syntax.DID(s) }

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
