package xrpc_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/outbox"
	"github.com/hearth-pds/hearth/pds/plc"
)

// plcToken reads did's PLC token the way `hearthd outbox list` does: from
// the data folder, over a read-only connection, while the PDS runs.
func plcToken(t *testing.T, p *testpds.PDS, did string) string {
	t.Helper()
	msgs, err := outbox.ListFolder(ctx, p.Config.DataDir, syntax.DID(did))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Purpose == outbox.PurposePLCOperation {
			return m.Token
		}
	}
	t.Fatalf("no PLC token in the outbox: %+v", msgs)
	return ""
}

// TestMoveOut moves an account OUT of Hearth to another PDS exactly as
// `goat account migrate` does (service auth, createAccount with the DID,
// getRepo → importRepo, preferences, blobs, recommended credentials,
// requestPlcOperationSignature → token from the outbox → signPlcOperation
// on the old PDS, submitPlcOperation + activate on the new one, deactivate
// on the old), then checks both sides.
func TestMoveOut(t *testing.T) {
	old := testpds.Start(t, nil)
	nu := testpds.Start(t, func(c *pds.Config) { c.PLCURL = old.PLC.URL })
	a := old.CreateAccount(t, "leaver.test")
	did := syntax.DID(a.DID)
	oc := old.Login(t, a)
	// A rotation key the user holds must survive the move.
	_, userKey, err := old.Engine.Identity.CreateRecoveryKey(ctx, did)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := comatproto.RepoUploadBlob(ctx, oc, bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatal(err)
	}
	rec := post("with a picture")
	rec["embed"] = map[string]any{"$type": "app.bsky.embed.images", "images": []any{map[string]any{"alt": "p",
		"image": map[string]any{"$type": "blob", "ref": map[string]any{"$link": blob.Blob.Ref.String()}, "mimeType": "image/png", "size": len(pngBytes)}}}}
	create(t, oc, a.DID, "app.bsky.feed.post", rec)
	create(t, oc, a.DID, "app.bsky.feed.post", post("hello"))
	prefs := map[string]any{"preferences": []any{map[string]any{"$type": "app.bsky.actor.defs#adultContentPref", "enabled": true}}}
	if err := oc.Post(ctx, "app.bsky.actor.putPreferences", prefs, nil); err != nil {
		t.Fatal(err)
	}

	// 1. The new account, vouched for by the old PDS.
	var sa struct{ Token string }
	if err := oc.Get(ctx, "com.atproto.server.getServiceAuth", map[string]any{"aud": nu.Engine.Identity.ServiceDID(), "lxm": "com.atproto.server.createAccount"}, &sa); err != nil {
		t.Fatal(err)
	}
	code, _ := nu.Engine.Accounts.CreateInviteCode(ctx, 1)
	st, _, b := raw(t, "POST", nu.URL+"/xrpc/com.atproto.server.createAccount", sa.Token, "application/json",
		mustJSON(t, map[string]any{"did": a.DID, "handle": "leaver.test", "password": "new-password", "inviteCode": code}))
	if st != 200 {
		t.Fatalf("createAccount: %d %s", st, b)
	}
	var sess struct{ AccessJwt, RefreshJwt string }
	_ = json.Unmarshal(b, &sess)
	nc := atclient.ResumePasswordSession(atclient.PasswordSessionData{AccessToken: sess.AccessJwt, RefreshToken: sess.RefreshJwt, AccountDID: did, Host: nu.URL}, nil)
	checkValidDID(t, "old, before the move", oc, true)
	checkValidDID(t, "new, before the PLC operation", nc, false)

	// 2. Data: repo, preferences, blobs.
	if err := comatproto.RepoImportRepo(ctx, nc, bytes.NewReader(old.GetRepo(t, a.DID, ""))); err != nil {
		t.Fatal(err)
	}
	var gotPrefs json.RawMessage
	if err := oc.Get(ctx, "app.bsky.actor.getPreferences", nil, &gotPrefs); err != nil {
		t.Fatal(err)
	}
	if err := nc.Post(ctx, "app.bsky.actor.putPreferences", gotPrefs, nil); err != nil {
		t.Fatal(err)
	}
	blobs, err := comatproto.SyncListBlobs(ctx, oc, "", a.DID, 100, "")
	if err != nil || len(blobs.Cids) != 1 {
		t.Fatalf("old blobs %+v %v", blobs, err)
	}
	resp, err := http.Get(old.URL + "/xrpc/com.atproto.sync.getBlob?did=" + a.DID + "&cid=" + blobs.Cids[0])
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, err := comatproto.RepoUploadBlob(ctx, nc, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}

	// 3. Identity: the token comes from the old PDS's outbox.
	var creds plc.Fields
	if err := nc.Get(ctx, "com.atproto.identity.getRecommendedDidCredentials", nil, &creds); err != nil {
		t.Fatal(err)
	}
	creds.RotationKeys = append([]string{userKey}, creds.RotationKeys...) // the user keeps their key first
	sign := func(token string, f plc.Fields) (json.RawMessage, error) {
		in := map[string]any{"token": token, "rotationKeys": f.RotationKeys, "alsoKnownAs": f.AlsoKnownAs,
			"verificationMethods": f.VerificationMethods, "services": f.Services}
		var out struct{ Operation json.RawMessage }
		err := oc.Post(ctx, "com.atproto.identity.signPlcOperation", in, &out)
		return out.Operation, err
	}
	_, err = sign("AAAAA-AAAAA", creds)
	apiErr(t, err, 400, "InvalidToken") // nothing requested yet
	if err := oc.Post(ctx, "com.atproto.identity.requestPlcOperationSignature", nil, nil); err != nil {
		t.Fatal(err)
	}
	token := plcToken(t, old, a.DID)
	_, err = sign("AAAAA-AAAAA", creds)
	apiErr(t, err, 400, "InvalidToken")
	bad := creds
	bad.RotationKeys = []string{"did:key:nonsense"}
	_, err = sign(token, bad)
	apiErr(t, err, 400, "InvalidRequest") // refused, and the token is not spent
	op, err := sign(token, creds)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sign(token, creds)
	apiErr(t, err, 400, "InvalidToken") // a token works once
	if err := nc.Post(ctx, "com.atproto.identity.submitPlcOperation", map[string]any{"operation": op}, nil); err != nil {
		t.Fatal(err)
	}
	checkValidDID(t, "new, after the PLC operation", nc, true)
	checkValidDID(t, "old, after signing the identity over", oc, false)

	// 4. Switch over.
	if err := nc.Post(ctx, "com.atproto.server.activateAccount", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := oc.Post(ctx, "com.atproto.server.deactivateAccount", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}

	// The PLC log: the move is signed by the old Hearth's rotation key and
	// names the new PDS, its keys and the user's key, in that order.
	dir := &identity.BaseDirectory{PLCURL: old.PLC.URL, SkipHandleVerification: true}
	id, err := dir.LookupDID(ctx, did)
	if err != nil || id.PDSEndpoint() != nu.URL {
		t.Fatalf("DID now points at %v (%v)", id, err)
	}
	last, err := (&plc.Client{URL: old.PLC.URL, HTTP: http.DefaultClient}).LastOp(ctx, a.DID)
	if err != nil {
		t.Fatal(err)
	}
	lst, _ := plc.OpState(last)
	if !slices.Equal(lst.RotationKeys, creds.RotationKeys) || lst.Handle != "leaver.test" {
		t.Fatalf("the directory's head: %+v, want rotation keys %v", lst, creds.RotationKeys)
	}
	// Records, blobs, preferences on the new side.
	v := testpds.VerifyRepoCAR(t, dir, nu.GetRepo(t, a.DID, ""))
	if len(v.Records) != 2 {
		t.Fatalf("%d records moved", len(v.Records))
	}
	var newPrefs json.RawMessage
	if err := nc.Get(ctx, "app.bsky.actor.getPreferences", nil, &newPrefs); err != nil || !bytes.Equal(compactJSON(t, newPrefs), compactJSON(t, gotPrefs)) {
		t.Fatalf("preferences on the new PDS: %s (%v), want %s", newPrefs, err, gotPrefs)
	}
	if missing, _ := comatproto.RepoListMissingBlobs(ctx, nc, "", 100); len(missing.Blobs) != 0 {
		t.Fatalf("still missing %v", missing.Blobs)
	}
	create(t, nc, a.DID, "app.bsky.feed.post", post("settled in"))

	// The old side answers as the reference does: deactivated, writes
	// refused, #identity then #account on its firehose.
	var os struct {
		Active bool
		Status string
	}
	if err := oc.Get(ctx, "com.atproto.server.getSession", nil, &os); err != nil || os.Active || os.Status != "deactivated" {
		t.Fatalf("old getSession: %+v %v", os, err)
	}
	_, err = comatproto.RepoCreateRecord(ctx, oc, &comatproto.RepoCreateRecord_Input{Repo: a.DID, Collection: "app.bsky.feed.post", Record: nil})
	if err == nil {
		t.Fatal("the old PDS took a write for a moved account")
	}
	st, _, b = raw(t, "GET", old.URL+"/xrpc/com.atproto.sync.getRepoStatus?did="+a.DID, "", "", nil)
	if st != 200 || !bytes.Contains(b, []byte(`"active":false`)) || !bytes.Contains(b, []byte(`"deactivated"`)) {
		t.Fatalf("old getRepoStatus: %d %s", st, b)
	}
	evs, _ := old.Engine.Events.Range(ctx, 0, 100, 0, a.DID)
	kinds := ""
	for _, e := range evs[len(evs)-2:] {
		kinds += e.Kind
	}
	if kinds != "#identity#account" {
		t.Fatalf("the old PDS's last events: %s", kinds)
	}
	// A new public URL for the old Hearth does not pull the identity back.
	if _, err := old.Engine.Identity.SetPublicURL(ctx, "https://moved-on.example.com"); err != nil {
		t.Fatal(err)
	}
	if ps, _ := old.Engine.Identity.PLCStatus(ctx, did); ps.Pending != 0 || ps.Refused != 0 {
		t.Fatalf("the old PDS queued an identity change for a moved account: %+v", ps)
	}
	if id, _ := dir.LookupDID(ctx, did); id.PDSEndpoint() != nu.URL {
		t.Fatalf("DID pulled back to %s", id.PDSEndpoint())
	}
}

func compactJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
