package xrpc_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	comatproto "github.com/bluesky-social/indigo/api/atproto"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds"
)

// smallDisk mounts a tmpfs of size bytes for the test (Linux, as root: the
// CI machine). Elsewhere the test is skipped, and says so.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (the CI machine runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// On a full disk, writes and uploads fail with a message that says so,
// nothing already stored is lost, and once space returns writes work again
// without a restart.
func TestDiskFull(t *testing.T) {
	disk := smallDisk(t, 6<<20)
	p := testpds.Start(t, func(c *pds.Config) { c.DataDir = filepath.Join(disk, "data") })
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	first := create(t, c, a.DID, "app.bsky.feed.post", post("before the disk filled up"))

	// Fill the disk but for a little room.
	filler := filepath.Join(disk, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{1}, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	if err := f.Close(); err != nil {
		t.Logf("close filler: %v", err)
	}
	if err := os.Truncate(filler, mustSize(t, filler)-256<<10); err != nil {
		t.Fatal(err)
	}

	big := strings.Repeat("x", 60<<10)
	var full error
	for i := 0; i < 40 && full == nil; i++ {
		full = c.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "com.example.filler",
			"record": map[string]any{"$type": "com.example.filler", "text": big}}, nil)
	}
	if full == nil {
		t.Fatal("40 writes of 60 KB fit in 256 KB of free space")
	}
	if !strings.Contains(fmt.Sprint(full), "disk is full") {
		t.Fatalf("write on a full disk: %v", full)
	}
	apiErr(t, full, 507, "DiskFull")
	if _, err := comatproto.RepoUploadBlob(ctx, c, bytes.NewReader(bytes.Repeat([]byte{9}, 1<<20))); err == nil || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("upload on a full disk: %v", err)
	}

	// Space returns: writes work again, with no restart, and nothing was lost.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	create(t, c, a.DID, "app.bsky.feed.post", post("after space came back"))
	if _, err := comatproto.RepoUploadBlob(ctx, c, bytes.NewReader(pngBytes)); err != nil {
		t.Fatalf("upload after space came back: %v", err)
	}
	rkey := first.URI[strings.LastIndex(first.URI, "/")+1:]
	if _, err := comatproto.RepoGetRecord(ctx, c, "", "app.bsky.feed.post", a.DID, rkey); err != nil {
		t.Fatalf("the record written before the disk filled up: %v", err)
	}
	testpds.VerifyRepoCAR(t, p.Dir, p.GetRepo(t, a.DID, ""))
}

func mustSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
