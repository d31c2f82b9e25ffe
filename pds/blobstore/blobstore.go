package blobstore

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// ErrTooLarge is returned when an upload exceeds the limit.
var ErrTooLarge = errors.New("blob too large")

// Store is a blob folder.
type Store struct {
	root string
}

// Open creates the folder if needed.
func Open(root string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(root, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("create blob folder: %w", err)
	}
	return &Store{root: root}, nil
}

// Upload is a blob written to a temp file, not yet in place.
type Upload struct {
	CID     cid.Cid
	Size    int64
	Sniffed string // MIME type sniffed from the first bytes
	tmp     string
}

// Discard removes the temp file. (If that fails, CleanTemp removes it at
// the next start.)
func (u *Upload) Discard() error {
	if err := os.Remove(u.tmp); err != nil {
		return fmt.Errorf("discard temp blob: %w", err)
	}
	return nil
}

// Receive streams r to a temp file, hashing as it goes; at most limit bytes.
func (s *Store) Receive(r io.Reader, limit int64) (_ *Upload, err error) {
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "upload-*")
	if err != nil {
		return nil, fmt.Errorf("create temp blob: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			// f may be closed already (a failed Close is reported below).
			if cerr := f.Close(); cerr != nil && !errors.Is(cerr, os.ErrClosed) {
				err = errors.Join(err, fmt.Errorf("close temp blob: %w", cerr))
			}
			if rerr := os.Remove(f.Name()); rerr != nil {
				err = errors.Join(err, fmt.Errorf("remove temp blob: %w", rerr))
			}
		}
	}()
	h := sha256.New()
	head := make([]byte, 0, 512)
	buf := make([]byte, 256<<10)
	var n int64
	for {
		m, rerr := r.Read(buf)
		if m > 0 {
			n += int64(m)
			if n > limit {
				return nil, fmt.Errorf("%w: over the %d byte limit", ErrTooLarge, limit)
			}
			if len(head) < 512 {
				head = append(head, buf[:min(m, 512-len(head))]...)
			}
			h.Write(buf[:m])
			if _, err := f.Write(buf[:m]); err != nil {
				return nil, fmt.Errorf("write temp blob: %w", err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("read upload: %w", rerr)
		}
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("sync temp blob: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("close temp blob: %w", err)
	}
	mh, err := multihash.Encode(h.Sum(nil), multihash.SHA2_256)
	if err != nil {
		return nil, err
	}
	ok = true
	return &Upload{CID: cid.NewCidV1(cid.Raw, mh), Size: n, Sniffed: http.DetectContentType(head), tmp: f.Name()}, nil
}

// path returns the blob's path, refusing anything that is not a DID and a
// raw CID (so no input can name a file outside the folder).
func (s *Store) path(did string, c cid.Cid) (string, error) {
	if _, err := syntax.ParseDID(did); err != nil {
		return "", fmt.Errorf("blob owner: %w", err)
	}
	if !c.Defined() {
		return "", fmt.Errorf("undefined blob CID")
	}
	name := c.String()
	dir := strings.ReplaceAll(did, ":", "_")
	if strings.ContainsAny(dir+name, "/\\") || strings.Contains(dir, "..") {
		return "", fmt.Errorf("unsafe blob path for %s/%s", did, name)
	}
	return filepath.Join(s.root, dir, name), nil
}

// Commit moves the upload into place for did. Idempotent.
func (s *Store) Commit(did string, u *Upload) error {
	p, err := s.path(did, u.CID)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("create blob folder: %w", err)
	}
	if err := os.Rename(u.tmp, p); err != nil {
		return fmt.Errorf("move blob into place: %w", err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("sync blob folder: %w", err)
	}
	return nil
}

// syncDir makes a rename into dir durable. File systems that cannot sync a
// directory (EINVAL) are accepted, as SQLite does.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) {
		err = nil
	}
	return errors.Join(err, d.Close())
}

// ErrCorrupt means a stored blob's bytes no longer hash to its CID (the
// disk or someone changed the file).
var ErrCorrupt = errors.New("blob is damaged on disk")

// Open opens a stored blob after checking that its bytes still hash to c,
// so a damaged file is an error and never served as if it were the blob.
// The file is positioned at its start.
func (s *Store) Open(did string, c cid.Cid) (*os.File, error) {
	p, err := s.path(did, c)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	if err := verify(f, c); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return f, nil
}

// verify hashes f and compares it with c's multihash, then rewinds f.
func verify(f *os.File, c cid.Cid) error {
	pre := c.Prefix()
	if pre.MhType != multihash.SHA2_256 {
		return fmt.Errorf("blob %s: unsupported hash %d", c, pre.MhType)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("read blob %s: %w", c, err)
	}
	want, err := multihash.Decode(c.Hash())
	if err != nil {
		return fmt.Errorf("blob %s: %w", c, err)
	}
	if !bytes.Equal(h.Sum(nil), want.Digest) {
		return fmt.Errorf("%w: %s (%s) does not match its CID", ErrCorrupt, c, f.Name())
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind blob %s: %w", c, err)
	}
	return nil
}

// Delete removes a stored blob (missing is fine).
func (s *Store) Delete(did string, c cid.Cid) error {
	p, err := s.path(did, c)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("delete blob: %w", err)
	}
	return nil
}

// DeleteAll removes every blob of did.
func (s *Store) DeleteAll(did string) error {
	p, err := s.path(did, cid.NewCidV1(cid.Raw, []byte{0x12, 0}))
	if err != nil {
		return err
	}
	return os.RemoveAll(filepath.Dir(p))
}

// CleanTemp removes leftover temp files (from a crash mid-upload) and
// reports those it could not remove.
func (s *Store) CleanTemp() error {
	dir := filepath.Join(s.root, "tmp")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clean temp blobs: %w", err)
	}
	var errs []error
	for _, e := range ents {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("clean temp blobs: %w", err))
		}
	}
	return errors.Join(errs...)
}
