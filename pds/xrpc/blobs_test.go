package xrpc_test

import (
	"bytes"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"
	"net/http"
	"testing"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds"
)

var pngBytes = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{7}, 2000)...)

func TestBlobs(t *testing.T) {
	p := testpds.Start(t, func(c *pds.Config) { c.BlobLimit = 1 << 20 })
	a := p.CreateAccount(t, "alice.test")
	c := p.Login(t, a)
	access, _ := tokens(c)

	// Typed upload through indigo's client.
	up, err := comatproto.RepoUploadBlob(ctx, c, bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatal(err)
	}
	if up.Blob.MimeType != "image/png" || up.Blob.Size != int64(len(pngBytes)) {
		t.Fatalf("uploadBlob = %+v", up.Blob)
	}
	blobCID := up.Blob.Ref.String()

	// Declared type contradicting the content is refused.
	st, _, b := raw(t, "POST", p.URL+"/xrpc/com.atproto.repo.uploadBlob", access, "video/mp4", pngBytes)
	xrpcErr(t, st, b, 400, "InvalidRequest")
	// Over the size limit.
	st, _, b = raw(t, "POST", p.URL+"/xrpc/com.atproto.repo.uploadBlob", access, "application/octet-stream", make([]byte, 1<<20+1))
	xrpcErr(t, st, b, http.StatusRequestEntityTooLarge, "BlobTooLarge")
	// Unauthenticated.
	st, _, b = raw(t, "POST", p.URL+"/xrpc/com.atproto.repo.uploadBlob", "", "image/png", pngBytes)
	xrpcErr(t, st, b, 401, "AuthMissing")

	// Not yet referenced: temporary, and not listed by listBlobs.
	details, _ := p.Engine.Blobs.Details(ctx, syntax.DID(a.DID))
	if len(details) != 1 || details[0].Referenced {
		t.Fatalf("blob details before use: %+v", details)
	}
	rec := post("look")
	rec["embed"] = map[string]any{"$type": "app.bsky.embed.images", "images": []any{map[string]any{"alt": "a picture",
		"image": map[string]any{"$type": "blob", "ref": map[string]any{"$link": blobCID}, "mimeType": "image/png", "size": len(pngBytes)}}}}
	// The record's blob ref must match the upload's size and type.
	for _, tc := range []struct {
		mime string
		size int
		want string
	}{{"image/png", len(pngBytes) + 1, "InvalidSize"}, {"image/jpeg", len(pngBytes), "InvalidMimeType"}} {
		bad := post("bad ref")
		bad["embed"] = map[string]any{"$type": "app.bsky.embed.images", "images": []any{map[string]any{"alt": "",
			"image": map[string]any{"$type": "blob", "ref": map[string]any{"$link": blobCID}, "mimeType": tc.mime, "size": tc.size}}}}
		apiErr(t, c.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "record": bad}, nil), 400, tc.want)
	}
	out := create(t, c, a.DID, "app.bsky.feed.post", rec)

	// A second, unreferenced upload.
	other, err := comatproto.RepoUploadBlob(ctx, c, bytes.NewReader(append([]byte("\x89PNG\r\n\x1a\n"), 1, 2, 3)))
	if err != nil {
		t.Fatal(err)
	}

	lb, err := comatproto.SyncListBlobs(ctx, c, "", a.DID, 100, "")
	if err != nil || len(lb.Cids) != 1 || lb.Cids[0] != blobCID {
		t.Fatalf("listBlobs = %+v %v", lb, err)
	}
	st, h, body := raw(t, "GET", p.URL+"/xrpc/com.atproto.sync.getBlob?did="+a.DID+"&cid="+blobCID, "", "", nil)
	if st != 200 || !bytes.Equal(body, pngBytes) || h.Get("Content-Type") != "image/png" || h.Get("X-Content-Type-Options") != "nosniff" ||
		h.Get("Content-Security-Policy") != "default-src 'none'; sandbox" {
		t.Fatalf("getBlob: %d %v", st, h)
	}
	for _, bad := range []string{"../../hearth.db", "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy", "%2e%2e%2fhearth.db"} {
		st, _, b := raw(t, "GET", p.URL+"/xrpc/com.atproto.sync.getBlob?did="+a.DID+"&cid="+bad, "", "", nil)
		if st != 400 {
			t.Errorf("getBlob %q: %d %s", bad, st, b)
		}
	}
	st, _, _ = raw(t, "GET", p.URL+"/xrpc/com.atproto.sync.getBlob?did=did:plc:../../x&cid="+blobCID, "", "", nil)
	if st != 400 {
		t.Errorf("getBlob with a path-like DID: %d", st)
	}

	details, _ = p.Engine.Blobs.Details(ctx, syntax.DID(a.DID))
	if len(details) != 2 {
		t.Fatalf("details = %+v", details)
	}
	for _, d := range details {
		if (d.CID == blobCID) != d.Referenced || (d.CID == blobCID && (len(d.UsedBy) != 1 || d.UsedBy[0] != out.URI)) {
			t.Fatalf("detail %+v", d)
		}
	}
	// GC: the unreferenced one goes (age 0), the referenced one stays.
	n, err := p.Engine.Blobs.CollectGarbage(ctx, 0)
	if err != nil || n != 1 {
		t.Fatalf("GC collected %d, %v", n, err)
	}
	if _, _, err := p.Engine.Blobs.Open(ctx, syntax.DID(a.DID), cid.Cid(other.Blob.Ref)); err == nil {
		t.Fatal("collected blob still readable")
	}
	if f, _, err := p.Engine.Blobs.Open(ctx, syntax.DID(a.DID), cid.MustParse(blobCID)); err != nil {
		t.Fatal("referenced blob collected")
	} else if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// Blobs younger than the minimum age are kept.
	if n, _ := p.Engine.Blobs.CollectGarbage(ctx, time.Hour); n != 0 {
		t.Fatalf("GC with 1h min age collected %d", n)
	}
	// Deleting the post unreferences the blob.
	if _, err := comatproto.RepoDeleteRecord(ctx, c, &comatproto.RepoDeleteRecord_Input{Repo: a.DID, Collection: "app.bsky.feed.post", Rkey: rkeyOf(out.URI)}); err != nil {
		t.Fatal(err)
	}
	if n, _ := p.Engine.Blobs.CollectGarbage(ctx, 0); n != 1 {
		t.Fatalf("GC after delete collected %d", n)
	}
}
