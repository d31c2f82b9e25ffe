package xrpc_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/internal/testpds"
)

// A blob whose file was damaged on disk is an error, never its bytes with
// 200, and the error body does not carry the file's path.
func TestDamagedBlobIsNotServed(t *testing.T) {
	p := testpds.Start(t, nil)
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	up, err := comatproto.RepoUploadBlob(ctx, c, bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatal(err)
	}
	blobCID := up.Blob.Ref.String()
	rec := post("look")
	rec["embed"] = map[string]any{"$type": "app.bsky.embed.images", "images": []any{map[string]any{"alt": "",
		"image": map[string]any{"$type": "blob", "ref": map[string]any{"$link": blobCID}, "mimeType": "image/png", "size": len(pngBytes)}}}}
	create(t, c, a.DID, "app.bsky.feed.post", rec)
	url := p.URL + "/xrpc/com.atproto.sync.getBlob?did=" + a.DID + "&cid=" + blobCID
	if st, _, body := raw(t, "GET", url, "", "", nil); st != 200 || !bytes.Equal(body, pngBytes) {
		t.Fatalf("intact blob: %d", st)
	}

	var path string
	err = filepath.WalkDir(p.Config.DataDir, func(pth string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == blobCID {
			path = pth
		}
		return err
	})
	if err != nil || path == "" {
		t.Fatalf("blob file not found under %s: %v", p.Config.DataDir, err)
	}
	damaged := bytes.Clone(pngBytes)
	damaged[len(damaged)/2] ^= 0xff
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	st, _, body := raw(t, "GET", url, "", "", nil)
	xrpcErr(t, st, body, 500, "InternalServerError")
	if bytes.Contains(body, []byte(filepath.Base(p.Config.DataDir))) || bytes.Contains(body, damaged[:8]) {
		t.Fatalf("error body carries internals or the damaged bytes: %q", body)
	}
	// The desktop app reads blobs through the same engine call.
	bc, _ := cid.Decode(blobCID)
	if f, _, err := p.Engine.Blobs.Open(ctx, syntax.DID(a.DID), bc); err == nil {
		_ = f.Close()
		t.Fatal("Blobs.Open served a damaged blob")
	}
}
