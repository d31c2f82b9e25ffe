package blobstore

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"
)

func TestReceiveCommitOpen(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{1}, 1000)...)
	u, err := s.Receive(bytes.NewReader(png), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if u.Size != int64(len(png)) || u.Sniffed != "image/png" || u.CID.Type() != cid.Raw {
		t.Fatalf("upload = %+v", u)
	}
	want, _ := cid.V1Builder{Codec: cid.Raw, MhType: 0x12}.Sum(png)
	if !u.CID.Equals(want) {
		t.Fatalf("cid = %s, want %s", u.CID, want)
	}
	if err := s.Commit("did:plc:abc", u); err != nil {
		t.Fatal(err)
	}
	f, err := s.Open("did:plc:abc", u.CID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, png) {
		t.Fatal("bytes differ")
	}
	if _, err := s.Receive(bytes.NewReader(png), 10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("limit: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Fatalf("temp files left: %v", ents)
	}
}

func TestPathsCannotEscape(t *testing.T) {
	s, _ := Open(t.TempDir())
	c, _ := cid.V1Builder{Codec: cid.Raw, MhType: 0x12}.Sum([]byte("x"))
	for _, did := range []string{"../../etc", "did:plc:../../x", "did:web:a/b", "", "did:plc:a\\b"} {
		if _, err := s.Open(did, c); err == nil || os.IsNotExist(err) {
			t.Errorf("did %q accepted: %v", did, err)
		}
	}
}
