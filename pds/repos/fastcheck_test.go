package repos_test

import (
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/repos"
)

// plainCases are records the fast check must take (true) or leave to the
// full check (false), each with why.
func plainCases(t testing.TB) []struct {
	name  string
	data  []byte
	plain bool
} {
	enc := func(rec map[string]any) []byte {
		b, err := atdata.MarshalCBOR(rec)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	link, _ := cid.Decode("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm")
	deep := map[string]any{"x": int64(1)}
	for range 31 {
		deep = map[string]any{"x": deep}
	}
	tooDeep := map[string]any{"x": deep}
	return []struct {
		name  string
		data  []byte
		plain bool
	}{
		{"post", enc(map[string]any{"$type": "app.bsky.feed.post", "text": "héllo", "langs": []any{"en"}, "createdAt": "2026-01-01T00:00:00Z"}), true},
		{"like with a strong ref", enc(map[string]any{"$type": "app.bsky.feed.like", "subject": map[string]any{"uri": "at://x/y/z", "cid": link.String()}, "createdAt": "x"}), true},
		{"every plain kind", enc(map[string]any{"b": atdata.Bytes{1, 2}, "e": atdata.Bytes{}, "n": int64(-5), "big": int64(1 << 40), "t": true, "f": false, "z": nil, "l": atdata.CIDLink(link), "a": []any{}, "o": map[string]any{}}), true},
		{"nested 32 deep", enc(deep), true},
		{"nested 33 deep", enc(tooDeep), false},
		{"safe integer limits", enc(map[string]any{"a": int64(9007199254740991), "b": int64(-9007199254740991)}), true},
		{"unsafe integer", enc(map[string]any{"a": int64(9007199254740992)}), false},
		{"unsafe negative integer", enc(map[string]any{"a": int64(-9007199254740992)}), false},
		{"blob", enc(map[string]any{"img": atdata.Blob{Ref: atdata.CIDLink(link), MimeType: "image/png", Size: 3}}), false},
		{"legacy blob", []byte("\xa2\x63cid\x61x\x68mimeType\x61y"), false},
		{"empty $type", []byte("\xa1\x65$type\x60"), false},
		{"$type not a string", []byte("\xa1\x65$type\x01"), false},
		{"$link key", []byte("\xa1\x65$link\x61x"), false},
		{"$bytes key", []byte("\xa1\x66$bytes\x61x"), false},
		{"float", []byte("\xa1\x61n\xfb\x3f\xf8\x00\x00\x00\x00\x00\x00"), false},
		{"unsorted keys", []byte("\xa2\x61b\x01\x61a\x01"), false},
		{"longer key first", []byte("\xa2\x62aa\x01\x61b\x01"), false},
		{"duplicate key", []byte("\xa2\x61a\x01\x61a\x01"), false},
		{"non-minimal integer", []byte("\xa1\x61a\x18\x01"), false},
		{"non-minimal length", []byte("\xa1\x78\x01a\x01"), false},
		{"indefinite map", []byte("\xbf\x61a\x01\xff"), false},
		{"integer key", []byte("\xa1\x01\x01"), false},
		{"other tag", []byte("\xa1\x61a\xc1\x01"), false},
		{"undefined", []byte("\xa1\x61a\xf7"), false},
		{"invalid UTF-8", []byte("\xa1\x61a\x61\xff"), false},
		{"trailing bytes", []byte("\xa1\x61a\x01\x01"), false},
		{"truncated", []byte("\xa1\x61a\x62x"), false},
		{"not an object", []byte("\x81\x01"), false},
		{"link without the 0 prefix", append([]byte("\xa1\x61l\xd8\x2a\x58\x24"), link.Bytes()...), false},
		{"empty", nil, false},
		{"huge declared length", []byte("\xa1\x61a\x5b\xff\xff\xff\xff\xff\xff\xff\xff"), false},
		{"huge array", []byte("\xa1\x61a\x9b\x00\x00\x00\x01\x00\x00\x00\x00"), false},
	}
}

// TestPlainRecord: the fast check takes the common records and leaves the
// special and the malformed ones to the full check, and whatever it takes
// the full check takes too, without blobs.
func TestPlainRecord(t *testing.T) {
	for _, tc := range plainCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			if got := repos.PlainRecord(tc.data); got != tc.plain {
				t.Fatalf("plainRecord = %v, want %v", got, tc.plain)
			}
			if tc.plain {
				blobs, err := repos.CheckRecordFull([]byte("k"), tc.data)
				if err != nil || len(blobs) > 0 {
					t.Fatalf("the full check says %v (blobs %v)", err, blobs)
				}
			}
		})
	}
	// Every record of a generated repo is plain but the posts with images.
	g := generateRepo(t, testDID, 400, 9)
	plain := 0
	for _, r := range g.records {
		if repos.PlainRecord(r.Data) {
			plain++
		} else if !strings.Contains(string(r.Data), "blob") {
			t.Fatalf("a generated record without a blob is not plain: %x", r.Data)
		}
	}
	if plain != 380 {
		t.Fatalf("%d of 400 generated records are plain, want 380", plain)
	}
}

// FuzzPlainRecord: whatever the fast check takes, the full check (decode,
// data model, re-encode to the same bytes) takes too, and finds no blob.
func FuzzPlainRecord(f *testing.F) {
	for _, tc := range plainCases(f) {
		f.Add(tc.data)
	}
	for _, r := range generateRepo(f, testDID, 40, 10).records {
		f.Add(r.Data)
	}
	blk, err := actorrepo.EncodeRecord(map[string]any{"$type": "x", "a": []any{map[string]any{"b": atdata.Bytes{}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(blk.Data)
	f.Fuzz(func(t *testing.T, data []byte) {
		if !repos.PlainRecord(data) {
			return
		}
		blobs, err := repos.CheckRecordFull([]byte("k"), data)
		if err != nil || len(blobs) > 0 {
			t.Fatalf("plain, but the full check says %v (blobs %v): %x", err, blobs, data)
		}
	})
}

var recordPaths = []string{
	"app.bsky.feed.post/3kaaaaaaaaaaa", "com.example.x/self", "com.example.x/a:b~c_d.e-f",
	"com.example.x/.", "com.example.x/..", "com.example.x/", "/k", "com.example.x", "com.example.x/a/b",
	"com.example.x/a b", "com.example.x/é", "not an nsid/k", "com..example/k", "com.example.x/" + strings.Repeat("a", 512),
	"com.example.x/" + strings.Repeat("a", 513), "a/b",
}

// TestParseRecordPath: the quick path parser agrees with
// syntax.ParseRepoPath on every path, the second time too (the collection
// cache).
func TestParseRecordPath(t *testing.T) {
	cols := map[string]bool{}
	for range 2 {
		for _, p := range recordPaths {
			checkRecordPath(t, p, cols)
		}
	}
}

func checkRecordPath(t *testing.T, p string, cols map[string]bool) {
	t.Helper()
	col, rkey, err := repos.ParseRecordPath(p, cols)
	wc, wr, werr := syntax.ParseRepoPath(p)
	if (err == nil) != (werr == nil) || col != wc.String() || rkey != wr.String() {
		t.Fatalf("%q: got %q %q %v, ParseRepoPath %q %q %v", p, col, rkey, err, wc, wr, werr)
	}
}

// FuzzRecordPath: the quick path parser agrees with syntax.ParseRepoPath.
func FuzzRecordPath(f *testing.F) {
	for _, p := range recordPaths {
		f.Add(p)
	}
	cols := map[string]bool{}
	f.Fuzz(func(t *testing.T, p string) { checkRecordPath(t, p, cols) })
}
