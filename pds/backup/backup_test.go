package backup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/backup"
	"github.com/hearth-pds/hearth/pds/repos"
	"github.com/hearth-pds/hearth/pds/secrets"
)

var ctx = context.Background()

// testWork keeps scrypt cheap in tests (age's default is 18).
const testWork = 10

var pngData = append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 2000)...)

// fixture is a running PDS with one account holding posts, an image post
// and preferences.
type fixture struct {
	p     *testpds.PDS
	acc   testpds.Account
	did   syntax.DID
	blob  string
	prefs string
}

func post(t *testing.T, e *pds.Engine, did syntax.DID, text string, embed map[string]any) *repos.BatchResult {
	t.Helper()
	rec := map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": syntax.DatetimeNow().String()}
	if embed != nil {
		rec["embed"] = embed
	}
	res, err := e.Repos.ApplyWrites(ctx, did, []repos.Write{{Action: "create", Collection: "app.bsky.feed.post", Rkey: syntax.RecordKey(syntax.NewTIDNow(0).String()), Record: rec}}, repos.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	p := testpds.Start(t, nil)
	acc := p.CreateAccount(t, "alice.test")
	did := syntax.DID(acc.DID)
	info, err := p.Engine.Blobs.Upload(ctx, did, "image/png", bytes.NewReader(pngData))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cid.Decode(info.CID)
	if err != nil {
		t.Fatal(err)
	}
	post(t, p.Engine, did, "with a picture", map[string]any{
		"$type": "app.bsky.embed.images",
		"images": []any{map[string]any{"alt": "grey", "image": map[string]any{
			"$type": "blob", "ref": map[string]any{"$link": c.String()}, "mimeType": "image/png", "size": len(pngData)}}},
	})
	for i := range 20 {
		post(t, p.Engine, did, "post "+string(rune('a'+i)), nil)
	}
	prefs := `[{"$type":"app.bsky.actor.defs#adultContentPref","enabled":false}]`
	if err := p.Engine.Accounts.PutPreferences(ctx, did, json.RawMessage(prefs), true); err != nil {
		t.Fatal(err)
	}
	return &fixture{p: p, acc: acc, did: did, blob: info.CID, prefs: prefs}
}

// Round trip while writes go on: the backup is taken from a folder the
// engine holds (no lock taken, no engine opened), every write acknowledged
// before it started is in the restored repo, the restored PDS has the
// same root, blob and preferences, and a new commit there verifies with
// the DID document's key.
func TestBackupWhileWritingThenRestore(t *testing.T) {
	f := newFixture(t)
	e := f.p.Engine

	var (
		mu    sync.Mutex
		acked []string // paths of acknowledged writes
		stop  = make(chan struct{})
		done  = make(chan error, 1)
	)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			rk := syntax.NewTIDNow(0).String()
			rec := map[string]any{"$type": "app.bsky.feed.post", "text": "during", "createdAt": syntax.DatetimeNow().String()}
			if _, err := e.Repos.ApplyWrites(ctx, f.did, []repos.Write{{Action: "create", Collection: "app.bsky.feed.post", Rkey: syntax.RecordKey(rk), Record: rec}}, repos.WriteOptions{}); err != nil {
				done <- err
				return
			}
			mu.Lock()
			acked = append(acked, "app.bsky.feed.post/"+rk)
			mu.Unlock()
		}
	}()
	time.Sleep(100 * time.Millisecond) // writes are going on
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	out := filepath.Join(t.TempDir(), "hearth.backup")
	start := time.Now()
	m, size, err := backup.CreateFile(ctx, backup.Options{DataDir: f.p.Config.DataDir, Passphrase: "correct horse", WorkFactor: testWork}, out)
	took := time.Since(start)
	close(stop)
	if werr := <-done; werr != nil {
		t.Fatalf("writer: %v", werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backup of %d records, %d blobs: %d bytes in %s (%d writes acknowledged before it started)", m.Accounts[0].Records, m.Blobs, size, took, len(before))
	if len(before) == 0 || len(m.Accounts) != 1 || m.Accounts[0].DID != f.acc.DID || m.Blobs != 1 {
		t.Fatalf("manifest %+v, %d writes before", m, len(before))
	}

	// Nothing in the file is readable without the passphrase: not the
	// signing key, not even the sealed form.
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := e.Accounts.Keys(ctx, f.did)
	if err != nil {
		t.Fatal(err)
	}
	for what, b := range map[string][]byte{"signing key": keys.Signing.Bytes(), "rotation key": keys.Rotation.Bytes(), "sealed value": []byte("hearth-sealed-v1:"), "handle": []byte("alice.test")} {
		if bytes.Contains(raw, b) {
			t.Errorf("the backup file holds the %s in plain form", what)
		}
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file mode: %v %v", fi.Mode(), err)
	}

	target := filepath.Join(t.TempDir(), "restored")
	in, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	rm, err := backup.Restore(ctx, in, backup.RestoreOptions{DataDir: target, Passphrase: "correct horse", KeyStore: secrets.StoreFile})
	_ = in.Close()
	if err != nil {
		t.Fatal(err)
	}
	if rm.Accounts[0].Commit != m.Accounts[0].Commit {
		t.Fatalf("restore manifest %+v", rm)
	}

	r := testpds.Start(t, func(c *pds.Config) { c.DataDir = target; c.PLCURL = f.p.PLC.URL })
	head, err := r.Engine.Repos.LatestCommit(ctx, f.did)
	if err != nil || head.CID != m.Accounts[0].Commit {
		t.Fatalf("restored head %+v %v, backup said %s", head, err, m.Accounts[0].Commit)
	}
	car := r.GetRepo(t, f.acc.DID, "")
	vr := testpds.VerifyRepoCAR(t, f.p.Dir, car)
	for _, path := range before {
		if _, ok := vr.Records[path]; !ok {
			t.Fatalf("write %s was acknowledged before the backup started but is not in the restored repo", path)
		}
	}
	c, _ := cid.Decode(f.blob)
	bf, _, err := r.Engine.Blobs.Open(ctx, f.did, c)
	if err != nil {
		t.Fatalf("restored blob: %v", err)
	}
	_ = bf.Close()
	prefs, err := r.Engine.Accounts.GetPreferences(ctx, f.did)
	if err != nil || string(prefs) != f.prefs {
		t.Fatalf("restored preferences %s %v", prefs, err)
	}
	// The restored PDS signs new commits with the same key: the commit
	// verifies against the DID document the original published.
	res := post(t, r.Engine, f.did, "after the restore", nil)
	vr = testpds.VerifyRepoCAR(t, f.p.Dir, r.GetRepo(t, f.acc.DID, ""))
	if vr.Commit.Rev != res.Commit.Rev {
		t.Fatalf("restored repo's head is %s, the new write made %s", vr.Commit.Rev, res.Commit.Rev)
	}
	// The user can log in with the old password.
	r.Dir = f.p.Dir
	f.p.Stop() // the DID document points at the old URL; log in to the restored one directly
	if _, err := r.Engine.Accounts.Login(ctx, f.acc.Handle, f.acc.Password, "127.0.0.1"); err != nil {
		t.Fatalf("login on the restored PDS: %v", err)
	}
}

// A folder no process holds backs up the same way (the WAL may be gone).
func TestBackupOfAFolderNotInUse(t *testing.T) {
	f := newFixture(t)
	f.p.Stop()
	var buf bytes.Buffer
	m, err := backup.Create(ctx, backup.Options{DataDir: f.p.Config.DataDir, Passphrase: "pw", WorkFactor: testWork}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Accounts) != 1 || m.Accounts[0].Records != 21 || m.Blobs != 1 {
		t.Fatalf("manifest %+v", m)
	}
	if _, err := backup.Create(ctx, backup.Options{DataDir: t.TempDir(), Passphrase: "pw"}, &buf); err == nil || !strings.Contains(err.Error(), "nothing to back up") {
		t.Fatalf("empty folder: %v", err)
	}
	if _, err := backup.Create(ctx, backup.Options{DataDir: f.p.Config.DataDir}, &buf); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("no passphrase: %v", err)
	}
}

// Restore refuses what it must and leaves nothing half-restored: neither
// the target nor a temporary folder beside it.
func TestRestoreRefusals(t *testing.T) {
	f := newFixture(t)
	var good bytes.Buffer
	if _, err := backup.Create(ctx, backup.Options{DataDir: f.p.Config.DataDir, Passphrase: "right", WorkFactor: testWork}, &good); err != nil {
		t.Fatal(err)
	}
	full := good.Bytes()
	for _, tc := range []struct {
		name     string
		in       []byte
		pass     string
		nonEmpty bool
		want     string
	}{
		{name: "wrong passphrase", in: full, pass: "wrong", want: "wrong passphrase"},
		{name: "non-empty folder", in: full, pass: "right", nonEmpty: true, want: "is not empty"},
		{name: "truncated midway", in: full[:len(full)/2], pass: "right", want: "damaged or incomplete"},
		{name: "last byte cut", in: full[:len(full)-1], pass: "right", want: "damaged or incomplete"},
		{name: "not a backup", in: []byte("hello, this is not a backup\n"), pass: "right", want: "not a Hearth backup"},
		{name: "empty file", in: nil, pass: "right", want: "not a Hearth backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			target := filepath.Join(parent, "restored")
			if tc.nonEmpty {
				if err := os.MkdirAll(target, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(target, "keep.txt"), []byte("mine"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := backup.Restore(ctx, bytes.NewReader(tc.in), backup.RestoreOptions{DataDir: target, Passphrase: tc.pass, KeyStore: secrets.StoreFile})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
			if tc.name == "wrong passphrase" && !errors.Is(err, backup.ErrWrongPassphrase) {
				t.Fatalf("err %v is not ErrWrongPassphrase", err)
			}
			entries, _ := os.ReadDir(parent)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			want := ""
			if tc.nonEmpty {
				want = "restored"
				if b, err := os.ReadFile(filepath.Join(target, "keep.txt")); err != nil || string(b) != "mine" {
					t.Fatalf("the non-empty folder was touched: %q %v", b, err)
				}
			}
			if strings.Join(names, ",") != want {
				t.Fatalf("left behind in %s: %v", parent, names)
			}
		})
	}
	// An empty folder is a fine target.
	target := t.TempDir()
	if _, err := backup.Restore(ctx, bytes.NewReader(full), backup.RestoreOptions{DataDir: target, Passphrase: "right", KeyStore: secrets.StoreFile}); err != nil {
		t.Fatal(err)
	}
}
