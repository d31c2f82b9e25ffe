package xrpc_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/plc"
)

// TestMigrateAccountIn moves an account, keeping its DID, from one PDS to
// another Hearth the way goat / the reference flow does: service auth from
// the old PDS, createAccount with the DID, importRepo, blobs, recommended
// credentials, a PLC operation signed with the account's rotation key,
// submitPlcOperation, activate here and deactivate there.
func TestMigrateAccountIn(t *testing.T) {
	old := testpds.Start(t, nil)
	nu := testpds.Start(t, func(c *pds.Config) { c.PLCURL = old.PLC.URL })
	a := old.CreateAccount(t, "mover.test")
	oc := old.Login(t, a)
	blob, err := comatproto.RepoUploadBlob(ctx, oc, bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatal(err)
	}
	rec := post("with a picture")
	rec["embed"] = map[string]any{"$type": "app.bsky.embed.images", "images": []any{map[string]any{"alt": "p",
		"image": map[string]any{"$type": "blob", "ref": map[string]any{"$link": blob.Blob.Ref.String()}, "mimeType": "image/png", "size": len(pngBytes)}}}}
	create(t, oc, a.DID, "app.bsky.feed.post", rec)
	create(t, oc, a.DID, "app.bsky.feed.post", post("hello"))

	// 1. Service auth from the old PDS for createAccount on the new one.
	var sa struct{ Token string }
	if err := oc.Get(ctx, "com.atproto.server.getServiceAuth", map[string]any{"aud": nu.Engine.Identity.ServiceDID(), "lxm": "com.atproto.server.createAccount"}, &sa); err != nil {
		t.Fatal(err)
	}
	code, _ := nu.Engine.Accounts.CreateInviteCode(ctx, 1)
	in := map[string]any{"did": a.DID, "handle": "mover2.test", "password": "new-password", "inviteCode": code}
	st, _, b := raw(t, "POST", nu.URL+"/xrpc/com.atproto.server.createAccount", "", "application/json", mustJSON(t, in))
	xrpcErr(t, st, b, 401, "AuthMissing")
	st, _, b = raw(t, "POST", nu.URL+"/xrpc/com.atproto.server.createAccount", "garbage", "application/json", mustJSON(t, in))
	xrpcErr(t, st, b, 401, "AuthenticationRequired")
	st, _, b = raw(t, "POST", nu.URL+"/xrpc/com.atproto.server.createAccount", sa.Token, "application/json", mustJSON(t, in))
	if st != 200 {
		t.Fatalf("createAccount with DID: %d %s", st, b)
	}
	var sess struct{ AccessJwt, RefreshJwt, Did string }
	if err := json.Unmarshal(b, &sess); err != nil {
		t.Fatalf("createAccount response %s: %v", b, err)
	}
	nc := atclient.ResumePasswordSession(atclient.PasswordSessionData{AccessToken: sess.AccessJwt, RefreshToken: sess.RefreshJwt, AccountDID: syntax.DID(a.DID), Host: nu.URL}, nil)
	evsBefore, _ := nu.Engine.Events.Range(ctx, 0, 100, 0, a.DID)
	if len(evsBefore) != 0 {
		t.Fatalf("a migrating account announced %d events", len(evsBefore))
	}

	// 2. Repo and blobs.
	if err := comatproto.RepoImportRepo(ctx, nc, bytes.NewReader(old.GetRepo(t, a.DID, ""))); err != nil {
		t.Fatal(err)
	}
	missing, err := comatproto.RepoListMissingBlobs(ctx, nc, "", 100)
	if err != nil || len(missing.Blobs) != 1 {
		t.Fatalf("missing blobs = %+v %v", missing, err)
	}
	resp, _ := http.Get(old.URL + "/xrpc/com.atproto.sync.getBlob?did=" + a.DID + "&cid=" + missing.Blobs[0].Cid)
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, err := comatproto.RepoUploadBlob(ctx, nc, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}

	// 3. The DID document: the new PDS's keys and endpoint, signed with the
	// account's rotation key (exported from the old Hearth, as with goat).
	var creds struct {
		RotationKeys        []string
		VerificationMethods map[string]string
	}
	if err := nc.Get(ctx, "com.atproto.identity.getRecommendedDidCredentials", nil, &creds); err != nil {
		t.Fatal(err)
	}
	privHex, _, _ := old.Engine.Identity.RecoveryKey(ctx, syntax.DID(a.DID))
	rot, err := atcrypto.ParsePrivateBytesK256(mustHex(t, privHex))
	if err != nil {
		t.Fatal(err)
	}
	last, _ := (&plc.Client{URL: old.PLC.URL, HTTP: http.DefaultClient}).LastOp(ctx, a.DID)
	newSigning, _ := atcrypto.ParsePublicDIDKey(creds.VerificationMethods["atproto"])
	wrong, _ := plc.UpdateOp(last, rot, newSigning, "mover2.test", "https://elsewhere.example.com", creds.RotationKeys)
	apiErr(t, nc.Post(ctx, "com.atproto.identity.submitPlcOperation", map[string]any{"operation": json.RawMessage(wrong)}, nil), 400, "InvalidRequest")
	op, err := plc.UpdateOp(last, rot, newSigning, "mover2.test", nu.URL, creds.RotationKeys)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Post(ctx, "com.atproto.identity.submitPlcOperation", map[string]any{"operation": json.RawMessage(op)}, nil); err != nil {
		t.Fatal(err)
	}

	// 4. Switch over.
	if err := nc.Post(ctx, "com.atproto.server.activateAccount", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := oc.Post(ctx, "com.atproto.server.deactivateAccount", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	dir := &identity.BaseDirectory{PLCURL: old.PLC.URL, SkipHandleVerification: true}
	id, err := dir.LookupDID(ctx, syntax.DID(a.DID))
	if err != nil || id.PDSEndpoint() != nu.URL {
		t.Fatalf("DID now points at %v (%v)", id, err)
	}
	v := testpds.VerifyRepoCAR(t, dir, nu.GetRepo(t, a.DID, "")) // signed with the new key
	if len(v.Records) != 2 {
		t.Fatalf("%d records moved", len(v.Records))
	}
	evs, _ := nu.Engine.Events.Range(ctx, 0, 100, 0, a.DID)
	kinds := ""
	for _, e := range evs {
		kinds += e.Kind
	}
	if kinds != "#account#identity#sync" {
		t.Fatalf("activation announced %s", kinds)
	}
	// The moved account writes on its new home.
	create(t, nc, a.DID, "app.bsky.feed.post", post("settled in"))
	if missing, _ := comatproto.RepoListMissingBlobs(ctx, nc, "", 100); len(missing.Blobs) != 0 {
		t.Fatalf("still missing %v", missing.Blobs)
	}
}
