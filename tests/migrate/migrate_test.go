package migrate_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestGoatMigrateInAndOut moves one account with goat, as the README says:
//
//  1. from a reference PDS (A) into hearthd: `goat account login` on A,
//     `goat account plc request-token` (A's token, read from A's database),
//     `goat account migrate --pds-host HEARTH ... --invite-code CODE`;
//  2. from hearthd to a second reference PDS (B): `goat account login` on
//     Hearth, `goat account plc request-token` (the token from
//     `hearthd outbox list`), `goat account migrate --pds-host B ...`.
//
// After each move it checks, on every side: the records (every collection,
// same URIs and CIDs), the blob (same CID and bytes), the preferences, the
// PLC log (one more signed operation, pointing at the new PDS with the new
// handle), and the account status (new active; old deactivated, writes
// refused).
func TestGoatMigrateInAndOut(t *testing.T) {
	tl := findTools(t)
	plc := startPLC(t)
	a := startRefPDS(t, tl, "refpds-a", plc)
	h := startHearth(t, tl, plc)
	b := startRefPDS(t, tl, "refpds-b", plc)

	const (
		handleA = "alice.test"
		handleH = "alice-hearth.test"
		handleB = "alice-b.test"
		email   = "alice@proton.me"
	)
	passA, passH, passB := "pass-on-a-1234", "pass-on-hearth-1234", "pass-on-b-1234"

	// --- an account on A with records, a blob and preferences -----------------
	ca, did := createOnA(t, a.url, handleA, email, passA)
	t.Logf("account %s on A (%s)", did, a.url)
	pngBytes := testPNG(t)
	want := seed(t, ca, did, pngBytes)
	startLog := plcLog(t, plc, did)
	if len(startLog) != 1 {
		t.Fatalf("PLC log of %s has %d entries after creation, want 1", did, len(startLog))
	}

	// --- move in: A -> Hearth -------------------------------------------------
	invite := strings.TrimSpace(h.invite)
	g1 := newGoat(t, tl.goat, plc)
	g1.run(t, "account", "login", "-u", did, "-p", passA, "--pds-host", a.url)
	g1.run(t, "account", "plc", "request-token")
	tokenA := a.emailToken(t, did, "plc_operation")
	g1.run(t, "account", "migrate", "--pds-host", h.url, "--new-handle", handleH,
		"--new-password", passH, "--new-email", email, "--invite-code", invite, "--plc-token", tokenA)

	ch := login(t, h.url, did, passH)
	want.records = checkMoved(t, "A -> Hearth", moveCheck{
		did: did, plc: plc, wantLog: 2, pngBytes: pngBytes, want: want,
		oldURL: a.url, oldPass: passA, newURL: h.url, newClient: ch, newHandle: handleH,
	})

	// --- move out: Hearth -> B ------------------------------------------------
	g2 := newGoat(t, tl.goat, plc)
	g2.run(t, "account", "login", "-u", did, "-p", passH, "--pds-host", h.url)
	g2.run(t, "account", "plc", "request-token")
	tokenH := h.outboxToken(t, did, "plc")
	g2.run(t, "account", "migrate", "--pds-host", b.url, "--new-handle", handleB,
		"--new-password", passB, "--new-email", email, "--plc-token", tokenH)

	cb := login(t, b.url, did, passB)
	checkMoved(t, "Hearth -> B", moveCheck{
		did: did, plc: plc, wantLog: 3, pngBytes: pngBytes, want: want,
		oldURL: h.url, oldPass: passH, newURL: b.url, newClient: cb, newHandle: handleB,
	})
	// A stays deactivated.
	checkStatus(t, "A after the second move", a.url, did, false, "deactivated")
}

// seeded is what the account holds before it moves.
type seeded struct {
	records map[string]string // at-uri -> cid
	blob    string            // the first blob's CID (the avatar; its bytes are pngBytes)
	blobs   []string          // every blob's CID, sorted
	prefs   []map[string]any
}

// seed writes a profile with an avatar, three posts (one with the image), a
// like, and preferences; it returns what it wrote as listed by the PDS.
func seed(t *testing.T, c *client, did string, pngBytes []byte) seeded {
	t.Helper()
	var up struct {
		Blob map[string]any `json:"blob"`
	}
	if err := c.do(http.MethodPost, "com.atproto.repo.uploadBlob", nil, bytes.NewReader(pngBytes), "image/png", &up); err != nil {
		t.Fatalf("uploadBlob: %v", err)
	}
	blobCID := up.Blob["ref"].(map[string]any)["$link"].(string)
	now := func() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }
	write := func(collection, rkey string, record map[string]any) (string, string) {
		t.Helper()
		in := map[string]any{"repo": did, "collection": collection, "record": record}
		nsid := "com.atproto.repo.createRecord"
		if rkey != "" {
			in["rkey"] = rkey
			nsid = "com.atproto.repo.putRecord"
		}
		var out struct {
			URI string `json:"uri"`
			CID string `json:"cid"`
		}
		if err := c.post(nsid, in, &out); err != nil {
			t.Fatalf("%s %s: %v", nsid, collection, err)
		}
		return out.URI, out.CID
	}
	write("app.bsky.actor.profile", "self", map[string]any{
		"$type": "app.bsky.actor.profile", "displayName": "Alice", "avatar": up.Blob,
	})
	var firstURI, firstCID string
	for i := range 3 {
		rec := map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprintf("post %d before moving", i), "createdAt": now()}
		if i == 2 {
			rec["embed"] = map[string]any{
				"$type":  "app.bsky.embed.images",
				"images": []any{map[string]any{"image": up.Blob, "alt": "a test image"}},
			}
		}
		uri, cid := write("app.bsky.feed.post", "", rec)
		if i == 0 {
			firstURI, firstCID = uri, cid
		}
	}
	write("app.bsky.feed.like", "", map[string]any{
		"$type": "app.bsky.feed.like", "subject": map[string]any{"uri": firstURI, "cid": firstCID}, "createdAt": now(),
	})
	prefs := []map[string]any{
		{"$type": "app.bsky.actor.defs#adultContentPref", "enabled": true},
		{"$type": "app.bsky.actor.defs#contentLabelPref", "label": "gore", "visibility": "warn"},
	}
	if err := c.post("app.bsky.actor.putPreferences", map[string]any{"preferences": prefs}, nil); err != nil {
		t.Fatalf("putPreferences: %v", err)
	}
	s := seeded{records: listAllRecords(t, c.base, did), blob: blobCID, blobs: []string{blobCID}, prefs: getPrefs(t, c)}
	if len(s.records) != 5 {
		t.Fatalf("seeded %d records, want 5: %v", len(s.records), s.records)
	}
	if len(s.prefs) != 2 {
		t.Fatalf("seeded preferences read back as %v", s.prefs)
	}
	return s
}

type moveCheck struct {
	did, plc        string
	wantLog         int
	pngBytes        []byte
	want            seeded
	oldURL, oldPass string
	newURL          string
	newClient       *client
	newHandle       string
}

// checkMoved checks one move and returns the records the account has after
// a post written on the new PDS.
func checkMoved(t *testing.T, step string, m moveCheck) map[string]string {
	t.Helper()
	// Records: every collection, the same URIs and CIDs.
	if got := listAllRecords(t, m.newURL, m.did); !reflect.DeepEqual(got, m.want.records) {
		t.Errorf("%s: records on the new PDS\n got %v\nwant %v", step, got, m.want.records)
	}
	// Blobs: the same CID listed, the same bytes served.
	if got := listBlobs(t, m.newURL, m.did); !reflect.DeepEqual(got, m.want.blobs) {
		t.Errorf("%s: blobs on the new PDS = %v, want %v", step, got, m.want.blobs)
	}
	var raw []byte
	pub := &client{base: m.newURL}
	if err := pub.get("com.atproto.sync.getBlob", url.Values{"did": {m.did}, "cid": {m.want.blob}}, &raw); err != nil {
		t.Errorf("%s: getBlob on the new PDS: %v", step, err)
	} else if !bytes.Equal(raw, m.pngBytes) {
		t.Errorf("%s: the blob's bytes differ on the new PDS (%d bytes, want %d)", step, len(raw), len(m.pngBytes))
	}
	// Preferences.
	if got := getPrefs(t, m.newClient); !reflect.DeepEqual(got, m.want.prefs) {
		t.Errorf("%s: preferences on the new PDS\n got %v\nwant %v", step, got, m.want.prefs)
	}
	// The new PDS's own view of the account.
	var st struct {
		Activated          bool `json:"activated"`
		ValidDid           bool `json:"validDid"`
		IndexedRecords     int  `json:"indexedRecords"`
		ExpectedBlobs      int  `json:"expectedBlobs"`
		ImportedBlobs      int  `json:"importedBlobs"`
		PrivateStateValues int  `json:"privateStateValues"`
	}
	if err := m.newClient.get("com.atproto.server.checkAccountStatus", nil, &st); err != nil {
		t.Errorf("%s: checkAccountStatus on the new PDS: %v", step, err)
	} else if !st.Activated || !st.ValidDid || st.IndexedRecords != len(m.want.records) || st.ExpectedBlobs != len(m.want.blobs) || st.ImportedBlobs != len(m.want.blobs) {
		t.Errorf("%s: checkAccountStatus on the new PDS = %+v", step, st)
	}
	// The PLC log: one more operation, pointing at the new PDS and handle.
	entries := plcLog(t, m.plc, m.did)
	if len(entries) != m.wantLog {
		t.Errorf("%s: the PLC log has %d operations, want %d", step, len(entries), m.wantLog)
	}
	last := entries[len(entries)-1]
	if ep := last.Operation.Services["atproto_pds"].Endpoint; ep != m.newURL {
		t.Errorf("%s: the last PLC operation's PDS endpoint = %q, want %q", step, ep, m.newURL)
	}
	if aka := last.Operation.AlsoKnownAs; len(aka) == 0 || aka[0] != "at://"+m.newHandle {
		t.Errorf("%s: the last PLC operation's alsoKnownAs = %v, want at://%s first", step, aka, m.newHandle)
	}
	if len(last.Operation.RotationKeys) == 0 || last.Operation.VerificationMethods["atproto"] == "" {
		t.Errorf("%s: the last PLC operation has no rotation key or signing key: %+v", step, last.Operation)
	}
	var doc struct {
		Service []struct {
			ID              string `json:"id"`
			ServiceEndpoint string `json:"serviceEndpoint"`
		} `json:"service"`
	}
	getJSON(t, m.plc+"/"+m.did, &doc)
	if len(doc.Service) == 0 || doc.Service[0].ServiceEndpoint != m.newURL {
		t.Errorf("%s: the DID document's services = %+v, want %s", step, doc.Service, m.newURL)
	}
	// Status on both sides.
	checkStatus(t, step+", new PDS", m.newURL, m.did, true, "")
	checkStatus(t, step+", old PDS", m.oldURL, m.did, false, "deactivated")
	// The old PDS refuses writes (a fresh session on it still works).
	co := login(t, m.oldURL, m.did, m.oldPass)
	err := co.post("com.atproto.repo.createRecord", map[string]any{
		"repo": m.did, "collection": "app.bsky.feed.post",
		"record": map[string]any{"$type": "app.bsky.feed.post", "text": "written after moving", "createdAt": time.Now().UTC().Format(time.RFC3339)},
	}, nil)
	var xe *xrpcError
	switch {
	case err == nil:
		t.Errorf("%s: the old PDS accepted a write for the moved account", step)
	case !errors.As(err, &xe) || xe.Name != "AccountDeactivated" || xe.Status != http.StatusUnauthorized:
		t.Errorf("%s: the old PDS refused a write with %v, want HTTP 401 AccountDeactivated (as the reference PDS)", step, err)
	default:
		t.Logf("%s: the old PDS refuses writes: %v", step, err)
	}
	// The old PDS knows the identity is no longer its own.
	var old struct {
		Activated bool `json:"activated"`
		ValidDid  bool `json:"validDid"`
	}
	if err := co.get("com.atproto.server.checkAccountStatus", nil, &old); err != nil {
		t.Errorf("%s: checkAccountStatus on the old PDS: %v", step, err)
	} else if old.Activated || old.ValidDid {
		t.Errorf("%s: checkAccountStatus on the old PDS = %+v, want neither activated nor a valid DID", step, old)
	}
	// And the new one takes them.
	if err := m.newClient.post("com.atproto.repo.createRecord", map[string]any{
		"repo": m.did, "collection": "app.bsky.feed.post",
		"record": map[string]any{"$type": "app.bsky.feed.post", "text": "hello from " + m.newURL, "createdAt": time.Now().UTC().Format(time.RFC3339)},
	}, nil); err != nil {
		t.Errorf("%s: write on the new PDS: %v", step, err)
	}
	return listAllRecords(t, m.newURL, m.did)
}

func checkStatus(t *testing.T, step, base, did string, active bool, status string) {
	t.Helper()
	var rs struct {
		Active bool   `json:"active"`
		Status string `json:"status"`
	}
	c := &client{base: base}
	if err := c.get("com.atproto.sync.getRepoStatus", url.Values{"did": {did}}, &rs); err != nil {
		t.Errorf("%s: getRepoStatus: %v", step, err)
		return
	}
	if rs.Active != active || rs.Status != status {
		t.Errorf("%s: getRepoStatus = active %v status %q, want active %v status %q", step, rs.Active, rs.Status, active, status)
	}
}

func login(t *testing.T, base, did, password string) *client {
	t.Helper()
	c := &client{base: base}
	var s struct {
		AccessJwt string `json:"accessJwt"`
	}
	if err := c.post("com.atproto.server.createSession", map[string]any{"identifier": did, "password": password}, &s); err != nil {
		t.Fatalf("createSession on %s: %v", base, err)
	}
	c.token = s.AccessJwt
	return c
}

// listAllRecords lists every record of every collection (describeRepo,
// then listRecords), as at-uri -> cid.
func listAllRecords(t *testing.T, base, did string) map[string]string {
	t.Helper()
	c := &client{base: base}
	var desc struct {
		Collections []string `json:"collections"`
	}
	if err := c.get("com.atproto.repo.describeRepo", url.Values{"repo": {did}}, &desc); err != nil {
		t.Fatalf("describeRepo on %s: %v", base, err)
	}
	out := map[string]string{}
	for _, col := range desc.Collections {
		cursor := ""
		for {
			q := url.Values{"repo": {did}, "collection": {col}, "limit": {"100"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			var page struct {
				Cursor  string `json:"cursor"`
				Records []struct {
					URI string `json:"uri"`
					CID string `json:"cid"`
				} `json:"records"`
			}
			if err := c.get("com.atproto.repo.listRecords", q, &page); err != nil {
				t.Fatalf("listRecords %s on %s: %v", col, base, err)
			}
			for _, r := range page.Records {
				out[r.URI] = r.CID
			}
			if page.Cursor == "" || len(page.Records) == 0 {
				break
			}
			cursor = page.Cursor
		}
	}
	return out
}

func listBlobs(t *testing.T, base, did string) []string {
	t.Helper()
	c := &client{base: base}
	var out []string
	cursor := ""
	for {
		q := url.Values{"did": {did}, "limit": {"500"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Cursor string   `json:"cursor"`
			CIDs   []string `json:"cids"`
		}
		if err := c.get("com.atproto.sync.listBlobs", q, &page); err != nil {
			t.Fatalf("listBlobs on %s: %v", base, err)
		}
		out = append(out, page.CIDs...)
		if page.Cursor == "" || len(page.CIDs) == 0 {
			break
		}
		cursor = page.Cursor
	}
	sort.Strings(out)
	return out
}

func getPrefs(t *testing.T, c *client) []map[string]any {
	t.Helper()
	var out struct {
		Preferences []map[string]any `json:"preferences"`
	}
	if err := c.get("app.bsky.actor.getPreferences", nil, &out); err != nil {
		t.Fatalf("getPreferences on %s: %v", c.base, err)
	}
	return out.Preferences
}

type plcEntry struct {
	Operation struct {
		Type                string            `json:"type"`
		RotationKeys        []string          `json:"rotationKeys"`
		VerificationMethods map[string]string `json:"verificationMethods"`
		AlsoKnownAs         []string          `json:"alsoKnownAs"`
		Services            map[string]struct {
			Type     string `json:"type"`
			Endpoint string `json:"endpoint"`
		} `json:"services"`
	} `json:"operation"`
	Nullified bool `json:"nullified"`
}

func plcLog(t *testing.T, plc, did string) []plcEntry {
	t.Helper()
	var entries []plcEntry
	getJSON(t, plc+"/"+did+"/log/audit", &entries)
	if len(entries) == 0 {
		t.Fatalf("empty PLC log for %s", did)
	}
	for _, e := range entries {
		if e.Nullified {
			t.Errorf("the PLC log of %s has a nullified operation", did)
		}
	}
	return entries
}

func getJSON(t *testing.T, u string, out any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// testPNG is a small real PNG (the reference PDS sniffs blob types).
func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for x := range 32 {
		for y := range 32 {
			img.Set(x, y, color.RGBA{R: uint8(x * 8), G: uint8(y * 8), B: 128, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// createOnA creates the account to be moved on the reference PDS at url and
// returns a client signed in as it, and its DID.
func createOnA(t *testing.T, url, handle, email, password string) (*client, string) {
	t.Helper()
	c := &client{base: url}
	var created struct {
		DID       string `json:"did"`
		AccessJwt string `json:"accessJwt"`
	}
	if err := c.post("com.atproto.server.createAccount", map[string]any{
		"handle": handle, "email": email, "password": password,
	}, &created); err != nil {
		t.Fatalf("create the account on A: %v", err)
	}
	c.token = created.AccessJwt
	return c, created.DID
}
