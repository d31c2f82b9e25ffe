package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bluesky-social/indigo/atproto/repo"

	"github.com/hearth-pds/hearth/internal/plcdir"
	"net/http/httptest"
)

// fakeUI records events and answers dialogs with preset paths, as a person
// picking files would.
type fakeUI struct {
	mu       sync.Mutex
	events   []string
	progress []Progress
	save     string
	open     string
}

func (f *fakeUI) Emit(event string, data any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, event)
	if p, ok := data.(Progress); ok {
		f.progress = append(f.progress, p)
	}
}
func (f *fakeUI) SaveFile(title, name string) (string, error)    { return f.save, nil }
func (f *fakeUI) OpenFile(title, pattern string) (string, error) { return f.open, nil }

var pngData = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{3}, 500)...)

func startApp(t *testing.T) (*App, *fakeUI) {
	t.Helper()
	plc := httptest.NewServer(plcdir.New())
	t.Cleanup(plc.Close)
	a := New(Config{DataDir: filepath.Join(t.TempDir(), "data"), PLCURL: plc.URL, KeyStore: "file"})
	ui := &fakeUI{}
	if err := Start(context.Background(), a, ui); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Shutdown(context.Background(), a) })
	return a, ui
}

func TestFirstRunAndStatus(t *testing.T) {
	a, _ := startApp(t)
	if acc, err := a.Account(); err != nil || acc != nil {
		t.Fatalf("fresh data dir has account %v %v", acc, err)
	}
	if _, err := a.Post(PostInput{Text: "x"}); err == nil || !strings.Contains(err.Error(), "create one first") {
		t.Fatalf("post without account: %v", err)
	}
	if _, err := a.CreateAccount("bad handle", "password123", ""); err == nil {
		t.Fatal("invalid handle accepted")
	}
	acc, err := a.CreateAccount("me.test", "password123", "me@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(acc.DID, "did:plc:") || !acc.Published || acc.Explanation == "" {
		t.Fatalf("account = %+v", acc)
	}
	st, err := a.Status()
	if err != nil || !strings.HasPrefix(st.LocalURL, "http://localhost:") || st.Seq != 4 { // #identity, #account, #commit, #sync
		t.Fatalf("status = %+v %v", st, err)
	}
	// The local URL serves the real XRPC API.
	resp, err := http.Get(st.LocalURL + "/xrpc/com.atproto.repo.describeRepo?repo=me.test")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("describeRepo via local URL: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestPostTimelineBrowserBlobs(t *testing.T) {
	a, ui := startApp(t)
	acc, err := a.CreateAccount("me.test", "password123", "")
	if err != nil {
		t.Fatal(err)
	}
	blob, err := a.UploadBlob("image/png", base64.StdEncoding.EncodeToString(pngData))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.UploadBlob("image/png", "%%%not base64"); err == nil {
		t.Fatal("bad base64 accepted")
	}
	facets := `[{"index":{"byteStart":6,"byteEnd":25},"features":[{"$type":"app.bsky.richtext.facet#link","uri":"https://example.com"}]}]`
	p, err := a.Post(PostInput{Text: "hello https://example.com", Facets: json.RawMessage(facets),
		Images: []ImageInput{{CID: blob.CID, MimeType: blob.MimeType, Size: blob.Size, Alt: "a picture", Width: 4, Height: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.ValidationStatus != "valid" {
		t.Fatalf("post = %+v", p)
	}
	// Too long for the lexicon: refused in words, nothing written.
	if _, err := a.Post(PostInput{Text: strings.Repeat("é", 301)}); err == nil || !strings.Contains(err.Error(), "300") {
		t.Fatalf("long post: %v", err)
	}
	reply, err := a.Post(PostInput{Text: "replying to myself", ReplyTo: p.URI})
	if err != nil {
		t.Fatal(err)
	}
	tl, err := a.Timeline("")
	if err != nil || len(tl.Records) != 2 {
		t.Fatalf("timeline = %+v %v", tl, err)
	}
	if tl.Records[0].URI != reply.URI || tl.Records[0].ReplyTo != p.URI {
		t.Fatalf("newest = %+v", tl.Records[0])
	}
	img := tl.Records[1].Images
	if len(img) != 1 || img[0].Alt != "a picture" || img[0].CID != blob.CID {
		t.Fatalf("images = %+v", img)
	}
	resp, err := http.Get(img[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, pngData) {
		t.Fatal("image URL does not serve the blob")
	}

	if page, err := a.ListRecords("app.bsky.feed.post", ""); err != nil || len(page.Records) != 2 {
		t.Fatalf("ListRecords = %+v %v", page, err)
	}
	if page, err := a.ListRecords("com.example.none", ""); err != nil || len(page.Records) != 0 {
		t.Fatalf("ListRecords of an empty collection = %+v %v", page, err)
	}
	cols, err := a.Collections()
	if err != nil || len(cols) != 1 || cols[0].Count != 2 {
		t.Fatalf("collections = %+v %v", cols, err)
	}
	rv, err := a.GetRecord(p.URI)
	if err != nil || !strings.Contains(rv.JSON, `"$link": "`+blob.CID+`"`) {
		t.Fatalf("record JSON = %v %v", rv, err)
	}
	found, err := a.Search(p.URI[strings.LastIndex(p.URI, "/")+1:])
	if err != nil || len(found) != 1 || found[0].URI != p.URI {
		t.Fatalf("search by rkey = %+v %v", found, err)
	}
	if found, _ := a.Search(p.URI); len(found) != 1 {
		t.Fatal("search by AT-URI found nothing")
	}
	if found, _ := a.Search("at://did:plc:nobody/app.bsky.feed.post/x"); len(found) != 0 {
		t.Fatal("search found a record that does not exist")
	}
	cc, err := a.CurrentCommit()
	if err != nil || !strings.HasPrefix(cc.SigningKey, "did:key:z") || cc.Rev == "" {
		t.Fatalf("commit = %+v %v", cc, err)
	}
	hist, err := a.History()
	if err != nil || len(hist) < 4 || hist[0].Kind != "#commit" || len(hist[0].Ops) != 1 || !strings.HasPrefix(hist[0].Ops[0], "create app.bsky.feed.post/") {
		t.Fatalf("history = %+v %v", hist, err)
	}

	// Blobs: one referenced; an extra upload is unreferenced until cleaned up.
	if _, err := a.UploadBlob("image/png", base64.StdEncoding.EncodeToString(append(pngData, 9))); err != nil {
		t.Fatal(err)
	}
	bl, err := a.Blobs()
	if err != nil || bl.Count != 2 || bl.Unreferenced != 1 || bl.DiskBytes <= 0 {
		t.Fatalf("blobs = %+v %v", bl, err)
	}
	ui.save = filepath.Join(t.TempDir(), "img.png")
	if path, err := a.SaveBlob(blob.CID); err != nil || path != ui.save {
		t.Fatalf("save blob: %v %v", path, err)
	}
	if b, _ := os.ReadFile(ui.save); !bytes.Equal(b, pngData) {
		t.Fatal("saved blob differs")
	}
	if n, err := a.CleanUpBlobs(); err != nil || n != 1 {
		t.Fatalf("cleanup = %d %v", n, err)
	}
	if err := a.DeleteRecord(reply.URI); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteRecord("at://did:plc:someoneelse/app.bsky.feed.post/x"); err == nil {
		t.Fatal("deleted someone else's record")
	}
	_ = acc
}

func TestExportImportAndReadOnlyCAR(t *testing.T) {
	a, ui := startApp(t)
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, txt := range []string{"one", "two", "three"} {
		p, err := a.Post(PostInput{Text: txt})
		if err != nil {
			t.Fatal(err)
		}
		uris = append(uris, p.URI)
	}
	ui.save = filepath.Join(t.TempDir(), "me.car")
	path, err := a.ExportCAR()
	if err != nil || path != ui.save {
		t.Fatalf("export: %v %v", path, err)
	}
	car, _ := os.ReadFile(path)
	if _, _, err := repo.LoadRepoFromCAR(context.Background(), bytes.NewReader(car)); err != nil {
		t.Fatalf("exported CAR does not load: %v", err)
	}
	if len(ui.progress) == 0 || ui.progress[len(ui.progress)-1].Job != "export" {
		t.Fatalf("no export progress events: %+v", ui.progress)
	}
	if err := a.DeleteRecord(uris[0]); err != nil {
		t.Fatal(err)
	}

	ui.open = path
	info, err := a.InspectCAR()
	if err != nil || info.Records != 3 || !info.ForThisAcct || len(info.Collections) != 1 {
		t.Fatalf("inspect = %+v %v", info, err)
	}
	if tl, _ := a.Timeline(""); len(tl.Records) != 2 {
		t.Fatal("inspect changed the repo")
	}
	// A broken CAR is refused and the repo stays as it was.
	bad := filepath.Join(t.TempDir(), "bad.car")
	if err := os.WriteFile(bad, car[:len(car)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ImportCAR(bad, ""); err == nil {
		t.Fatal("truncated CAR imported")
	}
	if tl, _ := a.Timeline(""); len(tl.Records) != 2 {
		t.Fatal("failed import changed the repo")
	}
	if _, err := a.ImportCAR(path, ""); err != nil {
		t.Fatal(err)
	}
	if tl, _ := a.Timeline(""); len(tl.Records) != 3 {
		t.Fatalf("after import: %d posts", len(tl.Records))
	}

	// Read-only browsing of a CAR.
	ro, err := a.OpenCARReadOnly()
	if err != nil || ro.Records != 3 {
		t.Fatalf("open read-only = %+v %v", ro, err)
	}
	page, err := a.CARRecords("app.bsky.feed.post", "")
	if err != nil || len(page.Records) != 3 {
		t.Fatalf("CAR records = %+v %v", page, err)
	}
	rec, err := a.CARRecord(page.Records[0].URI)
	if err != nil || rec.Text == "" {
		t.Fatalf("CAR record = %+v %v", rec, err)
	}
	a.CloseCAR()
	if _, err := a.CARRecords("app.bsky.feed.post", ""); err == nil {
		t.Fatal("records of a closed CAR")
	}
}

func TestOpenDataDirAndRestart(t *testing.T) {
	a, _ := startApp(t)
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	st, _ := a.Status()
	other := filepath.Join(t.TempDir(), "other")
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := a.OpenDataDir(other); err != nil {
		t.Fatal(err)
	}
	if acc, _ := a.Account(); acc != nil {
		t.Fatal("the other data dir has an account")
	}
	if _, err := a.OpenDataDir(filepath.Join(other, "missing")); err == nil {
		t.Fatal("opened a folder that does not exist")
	}
	if _, err := a.OpenDataDir(st.DataDir); err != nil {
		t.Fatal(err)
	}
	acc, err := a.Account()
	if err != nil || acc == nil || acc.Handle != "me.test" {
		t.Fatalf("back on the first data dir: %+v %v", acc, err)
	}
	st2, _ := a.Status()
	if st2.LocalURL != st.LocalURL {
		t.Fatalf("port not remembered: %s then %s", st.LocalURL, st2.LocalURL)
	}
}

func TestDIDWebAccountAndInviteCodes(t *testing.T) {
	a, _ := startApp(t)
	if _, err := a.CreateAccountWithDIDWeb("me.example.com", "password123", "", "not a domain"); err == nil {
		t.Fatal("bad did:web domain accepted")
	}
	acc, err := a.CreateAccountWithDIDWeb("me.example.com", "password123", "", "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if acc.DID != "did:web:example.com" || !acc.Published || !strings.Contains(acc.Explanation, "/.well-known/did.json") {
		t.Fatalf("did:web account = %+v", acc)
	}
	code, err := a.CreateInviteCode(2)
	if err != nil || !strings.HasPrefix(code, "hearth-") {
		t.Fatalf("invite code %q %v", code, err)
	}
	// The code opens XRPC createAccount, twice.
	st, _ := a.Status()
	for i, h := range []string{"one.test", "two.test", "three.test"} {
		body := strings.NewReader(`{"handle":"` + h + `","password":"password123","inviteCode":"` + code + `"}`)
		resp, err := http.Post(st.LocalURL+"/xrpc/com.atproto.server.createAccount", "application/json", body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{true: 200, false: 400}[i < 2]; resp.StatusCode != want {
			t.Fatalf("account %d with the invite: HTTP %d, want %d", i, resp.StatusCode, want)
		}
	}
}
