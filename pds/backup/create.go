package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/folder"
	"github.com/hearth-pds/hearth/pds/secrets"
)

// Options configures Create.
type Options struct {
	// DataDir is the data folder to back up. It may be in use by another
	// process (hearthd serve, the desktop app) or by none.
	DataDir string
	// Passphrase encrypts the backup (age, scrypt). It must not be empty.
	Passphrase string
	// Keyring is where the data key is read from when the folder keeps it
	// in the OS keyring (nil: secrets.OSKeyring).
	Keyring secrets.Keyring
	// WorkFactor is scrypt's log2(N) (0: age's default, 18). Tests lower it.
	WorkFactor int
	// Progress, if not nil, hears how far the backup is.
	Progress func(Progress)
}

// Create writes an encrypted backup of opts.DataDir to w and returns its
// manifest. See the package documentation for what it holds.
func Create(ctx context.Context, opts Options, w io.Writer) (*Manifest, error) {
	if opts.Passphrase == "" {
		return nil, errs.Invalid("a backup needs a passphrase (it is encrypted with it)")
	}
	dir := opts.DataDir
	dbPath := filepath.Join(dir, folder.DatabaseFile)
	if fi, err := os.Stat(dbPath); err != nil || fi.Size() == 0 {
		return nil, errs.Invalid("%s holds no Hearth database (%s is missing or empty): nothing to back up", dir, dbPath)
	}
	tmp, err := os.MkdirTemp("", "hearth-backup-*") // 0700
	if err != nil {
		return nil, fmt.Errorf("make a folder for the database snapshot: %w", err)
	}
	defer os.RemoveAll(tmp) //nolint:errcheck // best effort: a private temporary folder
	report(opts.Progress, "copying the database", 0, 0)
	snap := filepath.Join(tmp, folder.DatabaseFile)
	if err := snapshot(ctx, dbPath, snap); err != nil {
		return nil, err
	}
	key, where, err := secrets.ReadDataKey(dir, opts.Keyring)
	if err != nil {
		return nil, fmt.Errorf("read the data key for the backup: %w", err)
	}
	m := &Manifest{Format: Format, CreatedAt: time.Now().UTC()}
	m.DataKeyFrom = where
	var blobs []blobRow
	if m.Accounts, blobs, err = contents(ctx, snap); err != nil {
		return nil, err
	}
	if m.DatabaseSHA256, m.DatabaseBytes, err = fileSHA256(snap); err != nil {
		return nil, err
	}
	settings, err := os.ReadFile(filepath.Join(dir, entrySettings))
	switch {
	case err == nil:
		m.Settings = true
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("read the desktop settings for the backup: %w", err)
	}
	m.Blobs = len(blobs)
	for _, b := range blobs {
		m.BlobBytes += b.size
	}

	rec, err := age.NewScryptRecipient(opts.Passphrase)
	if err != nil {
		return nil, fmt.Errorf("backup encryption: %w", err)
	}
	if opts.WorkFactor > 0 {
		rec.SetWorkFactor(opts.WorkFactor)
	}
	aw, err := age.Encrypt(w, rec)
	if err != nil {
		return nil, fmt.Errorf("backup encryption: %w", err)
	}
	tw := tar.NewWriter(aw)
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode the manifest: %w", err)
	}
	if err := addBytes(tw, entryManifest, mb, m.CreatedAt); err != nil {
		return nil, err
	}
	if err := addFile(tw, entryDatabase, snap, m.CreatedAt, nil); err != nil {
		return nil, err
	}
	if err := addBytes(tw, entryDataKey, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), m.CreatedAt); err != nil {
		return nil, err
	}
	if m.Settings {
		if err := addBytes(tw, entrySettings, settings, m.CreatedAt); err != nil {
			return nil, err
		}
	}
	var done int64
	for i, b := range blobs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c, err := cid.Decode(b.cid)
		if err != nil {
			return nil, fmt.Errorf("blob %s of %s in the database: %w", b.cid, b.did, err)
		}
		name := blobsPrefix + blobDir(b.did) + "/" + c.String()
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := addFile(tw, name, path, m.CreatedAt, &c); err != nil {
			return nil, err
		}
		done += b.size
		if i%50 == 0 || i == len(blobs)-1 {
			report(opts.Progress, "copying blobs", done, m.BlobBytes)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write the backup: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("write the backup: %w", err)
	}
	report(opts.Progress, "done", m.BlobBytes, m.BlobBytes)
	return m, nil
}

// CreateFile writes the backup to path, which must not exist: to a
// temporary file beside it (0600), synced, then renamed, so path is either
// a whole backup or absent. It returns the manifest and the file's size.
func CreateFile(ctx context.Context, opts Options, path string) (*Manifest, int64, error) {
	if _, err := os.Lstat(path); err == nil {
		return nil, 0, errs.Invalid("%s already exists: choose a new name for the backup (an old backup is never overwritten)", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*") // 0600
	if err != nil {
		return nil, 0, fmt.Errorf("create the backup file: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) (*Manifest, int64, error) {
		return nil, 0, errors.Join(err, f.Close(), os.Remove(tmp))
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	m, err := Create(ctx, opts, bw)
	if err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(fmt.Errorf("write %s: %w", tmp, err))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("write %s: %w", tmp, err))
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("write %s: %w", tmp, err))
	}
	if err := f.Close(); err != nil {
		return nil, 0, errors.Join(fmt.Errorf("write %s: %w", tmp, err), os.Remove(tmp))
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, 0, errors.Join(fmt.Errorf("move the backup into place: %w", err), os.Remove(tmp))
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, 0, err
	}
	return m, fi.Size(), nil
}

func addBytes(tw *tar.Writer, name string, b []byte, mod time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(b)), ModTime: mod, Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("write %s into the backup: %w", name, err)
	}
	if _, err := tw.Write(b); err != nil {
		return fmt.Errorf("write %s into the backup: %w", name, err)
	}
	return nil
}

// addFile copies the file at path into the archive as name; with c set,
// its bytes must hash to c (a damaged blob is not backed up as if whole).
func addFile(tw *tar.Writer, name, path string, mod time.Time, c *cid.Cid) error {
	f, err := os.Open(path)
	if err != nil {
		if c != nil && errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("blob %s is in the database but its file %s is missing (run hearthd verify): %w", c, path, err)
		}
		return fmt.Errorf("read %s for the backup: %w", path, err)
	}
	defer f.Close() //nolint:errcheck // read only
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read %s for the backup: %w", path, err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: fi.Size(), ModTime: mod, Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("write %s into the backup: %w", name, err)
	}
	var h hash.Hash
	var dst io.Writer = tw
	if c != nil {
		h = sha256.New()
		dst = io.MultiWriter(tw, h)
	}
	n, err := io.Copy(dst, f)
	if err != nil {
		return fmt.Errorf("copy %s into the backup: %w", path, err)
	}
	if n != fi.Size() {
		return fmt.Errorf("copy %s into the backup: it changed size while being read", path)
	}
	if c != nil && !digestMatches(*c, h.Sum(nil)) {
		return fmt.Errorf("blob %s is damaged on disk (%s does not hash to its CID; run hearthd verify): not backed up", c, path)
	}
	return nil
}

// digestMatches reports whether sum (SHA-256) is the digest c names.
func digestMatches(c cid.Cid, sum []byte) bool {
	dm, err := multihash.Decode(c.Hash())
	return err == nil && dm.Code == multihash.SHA2_256 && bytes.Equal(dm.Digest, sum)
}

func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close() //nolint:errcheck // read only
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}
