package backup

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/folder"
	"github.com/hearth-pds/hearth/pds/secrets"
)

// RestoreOptions configures Restore.
type RestoreOptions struct {
	// DataDir is the folder to restore into: it must not exist or be
	// empty.
	DataDir string
	// Passphrase is the one the backup was made with.
	Passphrase string
	// KeyStore is where the restored folder keeps its data key
	// (secrets.StoreAuto, StoreFile, StoreKeyring; "" is auto).
	KeyStore string
	// Keyring is the OS keyring (nil: secrets.OSKeyring).
	Keyring secrets.Keyring
	// Progress, if not nil, hears how far the restore is.
	Progress func(Progress)
	// Logger receives the check's engine log (nil: discarded).
	Logger *slog.Logger
}

// Limits on small entries, so a crafted archive cannot make Restore hold
// much in memory.
const (
	maxManifest = 4 << 20
	maxSettings = 1 << 20
	maxKey      = 1 << 10
)

// ErrWrongPassphrase is returned (wrapped) when the passphrase does not
// open the backup.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// Restore unpacks the backup read from r into opts.DataDir and checks it
// (see the package documentation). On any failure nothing is left at
// opts.DataDir (an empty folder that was there stays) and no temporary
// folder remains.
func Restore(ctx context.Context, r io.Reader, opts RestoreOptions) (_ *Manifest, err error) {
	target := filepath.Clean(opts.DataDir)
	if opts.DataDir == "" {
		return nil, errs.Invalid("no folder to restore into")
	}
	if err := checkEmpty(target); err != nil {
		return nil, err
	}
	parent := filepath.Dir(target)
	if err := os.MkdirAll(parent, folder.DirMode); err != nil {
		return nil, fmt.Errorf("create %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(target)+".restoring-*") // 0700
	if err != nil {
		return nil, fmt.Errorf("make a temporary folder for the restore: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, os.RemoveAll(tmp))
		}
	}()
	m, key, err := unpack(ctx, r, tmp, opts)
	if err != nil {
		return nil, err
	}
	// The check opens the engine with the key in a file; it moves to the
	// OS keyring (if asked) only once the folder checks out, so a failed
	// restore leaves no keyring entry behind.
	if _, err := secrets.Install(tmp, key, secrets.StoreFile, nil); err != nil {
		return nil, err
	}
	if err := check(ctx, tmp, m, opts); err != nil {
		return nil, err
	}
	if opts.KeyStore != secrets.StoreFile {
		if err := os.Remove(filepath.Join(tmp, secrets.KeysDir, "data.key")); err != nil {
			return nil, fmt.Errorf("move the data key: %w", err)
		}
		if _, err := secrets.Install(tmp, key, opts.KeyStore, opts.Keyring); err != nil {
			return nil, err
		}
	}
	report(opts.Progress, "moving the restored folder into place", 0, 0)
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("restore into %s: %w", target, err) // not empty any more
	}
	if err := os.Rename(tmp, target); err != nil {
		return nil, fmt.Errorf("move the restored folder to %s: %w", target, err)
	}
	if err := syncDir(parent); err != nil {
		return m, err
	}
	report(opts.Progress, "done", 1, 1)
	return m, nil
}

// checkEmpty refuses a target folder that holds anything.
func checkEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("look at %s: %w", dir, err)
	case len(entries) > 0:
		return errs.Invalid("%s is not empty: a backup is restored only into a new or empty folder, so nothing there is overwritten (nothing was changed)", dir)
	}
	return nil
}

// unpack decrypts and unpacks the archive into dir, checking each part
// against the manifest; it returns the manifest and the data key.
func unpack(ctx context.Context, r io.Reader, dir string, opts RestoreOptions) (*Manifest, []byte, error) {
	id, err := age.NewScryptIdentity(opts.Passphrase)
	if err != nil {
		return nil, nil, fmt.Errorf("backup passphrase: %w", err)
	}
	report(opts.Progress, "opening the backup", 0, 0)
	ar, err := age.Decrypt(r, id)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			if len(nomatch.StanzaTypes) == 1 && nomatch.StanzaTypes[0] == "scrypt" {
				return nil, nil, errs.Wrap(errs.ErrInvalidRequest, ErrWrongPassphrase, "wrong passphrase: the backup does not open with it (nothing was restored)")
			}
			return nil, nil, errs.Invalid("this file is encrypted, but not with a passphrase: it is not a Hearth backup (nothing was restored)")
		}
		return nil, nil, errs.Wrap(errs.ErrInvalidRequest, err, "this is not a Hearth backup, or it is damaged (%v); nothing was restored", err)
	}
	tr := tar.NewReader(ar)
	damaged := func(err error) error {
		return errs.Wrap(errs.ErrInvalidRequest, err, "the backup is damaged or incomplete (%v); nothing was restored", err)
	}
	hdr, err := tr.Next()
	if err != nil {
		return nil, nil, damaged(err)
	}
	if hdr.Name != entryManifest {
		return nil, nil, damaged(fmt.Errorf("it starts with %q, not the manifest", hdr.Name))
	}
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(tr, maxManifest)).Decode(&m); err != nil {
		return nil, nil, damaged(fmt.Errorf("manifest: %w", err))
	}
	if m.Format < 1 || m.Format > Format {
		return nil, nil, errs.Invalid("this backup has format %d; this Hearth reads format 1 to %d: restore it with a newer Hearth", m.Format, Format)
	}
	owners := map[string]bool{}
	for _, a := range m.Accounts {
		owners[blobDir(a.DID)] = true
	}
	var (
		key                []byte
		dbSum              string
		blobs              int
		blobBytes, dbBytes int64
	)
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, damaged(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, nil, damaged(fmt.Errorf("unexpected entry %q", hdr.Name))
		}
		switch name := hdr.Name; {
		case name == entryDatabase:
			report(opts.Progress, "restoring the database", 0, m.DatabaseBytes)
			h := sha256.New()
			if dbBytes, err = writeFile(filepath.Join(dir, folder.DatabaseFile), io.TeeReader(tr, h)); err != nil {
				return nil, nil, damaged(err)
			}
			dbSum = hex.EncodeToString(h.Sum(nil))
		case name == entryDataKey:
			b, err := io.ReadAll(io.LimitReader(tr, maxKey))
			if err != nil {
				return nil, nil, damaged(err)
			}
			if key, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err != nil || len(key) != secrets.KeySize {
				return nil, nil, damaged(errors.New("the data key in it is unreadable"))
			}
		case name == entrySettings:
			if _, err := writeFile(filepath.Join(dir, entrySettings), io.LimitReader(tr, maxSettings)); err != nil {
				return nil, nil, damaged(err)
			}
		case strings.HasPrefix(name, blobsPrefix):
			n, err := restoreBlob(dir, name, tr, owners)
			if err != nil {
				return nil, nil, damaged(err)
			}
			blobs++
			blobBytes += n
			if blobs%50 == 0 || blobs == m.Blobs {
				report(opts.Progress, "restoring blobs", blobBytes, m.BlobBytes)
			}
		default:
			return nil, nil, damaged(fmt.Errorf("unexpected entry %q", name))
		}
	}
	switch {
	case dbSum == "":
		return nil, nil, damaged(errors.New("it holds no database"))
	case dbSum != m.DatabaseSHA256 || dbBytes != m.DatabaseBytes:
		return nil, nil, damaged(errors.New("the database in it does not match its manifest"))
	case key == nil:
		return nil, nil, damaged(errors.New("it holds no data key"))
	case blobs != m.Blobs || blobBytes != m.BlobBytes:
		return nil, nil, damaged(fmt.Errorf("it holds %d blobs (%d bytes), its manifest says %d (%d bytes)", blobs, blobBytes, m.Blobs, m.BlobBytes))
	}
	return &m, key, nil
}

// restoreBlob writes the blob entry name (blobs/<owner>/<cid>) under dir
// after checking the name and that the bytes hash to the CID.
func restoreBlob(dir, name string, r io.Reader, owners map[string]bool) (int64, error) {
	parts := strings.Split(strings.TrimPrefix(name, blobsPrefix), "/")
	if len(parts) != 2 || !owners[parts[0]] {
		return 0, fmt.Errorf("unexpected blob entry %q", name)
	}
	c, err := cid.Decode(parts[1])
	if err != nil || c.String() != parts[1] {
		return 0, fmt.Errorf("blob entry %q does not name a CID", name)
	}
	bdir := filepath.Join(dir, "blobs", parts[0])
	if err := os.MkdirAll(bdir, folder.DirMode); err != nil {
		return 0, fmt.Errorf("create %s: %w", bdir, err)
	}
	h := sha256.New()
	n, err := writeFile(filepath.Join(bdir, parts[1]), io.TeeReader(r, h))
	if err != nil {
		return 0, err
	}
	if !digestMatches(c, h.Sum(nil)) {
		return 0, fmt.Errorf("blob %s does not hash to its CID", c)
	}
	return n, nil
}

// writeFile writes r to a new 0600 file at path and syncs it.
func writeFile(path string, r io.Reader) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, folder.FileMode)
	if err != nil {
		return 0, fmt.Errorf("restore %s: %w", path, err)
	}
	n, err := io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if err := errors.Join(err, f.Close()); err != nil {
		return n, fmt.Errorf("restore %s: %w", path, err)
	}
	return n, nil
}

// check opens the unpacked folder with the engine (no background jobs, no
// network), runs the full verification and compares every repo head with
// the manifest.
func check(ctx context.Context, dir string, m *Manifest, opts RestoreOptions) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	report(opts.Progress, "checking the restored data", 0, 0)
	e, err := pds.Open(ctx, pds.Config{DataDir: dir, PublicURL: "http://localhost", KeyStore: secrets.StoreFile, Logger: log, NoBackground: true})
	if err != nil {
		return fmt.Errorf("the restored data does not open (nothing was restored): %w", err)
	}
	rep, err := e.Verify(ctx, func(step string) { report(opts.Progress, "checking the "+step, 0, 0) })
	if err = errors.Join(err, e.Close()); err != nil {
		return fmt.Errorf("check the restored data: %w", err)
	}
	if !rep.OK {
		return errs.Invalid("the restored data does not verify, so nothing was restored:\n%s", rep)
	}
	got := map[string]string{}
	for _, a := range rep.Accounts {
		got[a.DID] = a.Commit
	}
	if len(got) != len(m.Accounts) {
		return errs.Invalid("the backup's manifest lists %d accounts, its database holds %d: nothing was restored", len(m.Accounts), len(got))
	}
	for _, a := range m.Accounts {
		if got[a.DID] != a.Commit {
			return errs.Invalid("the repo of %s restored to commit %s, the manifest says %s: nothing was restored", a.DID, got[a.DID], a.Commit)
		}
	}
	return nil
}
