package backup

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds"
	"github.com/hearth-pds/hearth/pds/errs"
	hid "github.com/hearth-pds/hearth/pds/identity"
	"github.com/hearth-pds/hearth/pds/repos"
)

// Names in the portable export, per account (under a folder named after
// the DID, ':' as '_').
const (
	ExportCAR         = "repo.car"
	ExportBlobs       = "blobs"
	ExportPreferences = "preferences.json"
	ExportPLCLog      = "plc-audit-log.json"
	ExportRecoveryKey = "RECOVERY-KEY.txt"
	exportReadme      = "README.txt"
)

// ExportSummary says what Export wrote.
type ExportSummary struct {
	Path     string            `json:"path"`
	Accounts []ExportedAccount `json:"accounts"`
}

// ExportedAccount is one account's part of the export.
type ExportedAccount struct {
	DID         string `json:"did"`
	Handle      string `json:"handle"`
	Folder      string `json:"folder"`
	Blobs       int    `json:"blobs"`
	PLCOps      int    `json:"plc_ops"`
	RecoveryKey bool   `json:"recovery_key"` // false for a did:web
}

// Export writes the portable export of everything e holds to out: a new
// folder, or a zip file when out ends in .zip. out must not exist (an
// empty folder is fine); it is written under a temporary name beside it
// and renamed when complete.
func Export(ctx context.Context, e *pds.Engine, out string, progress func(Progress)) (_ *ExportSummary, err error) {
	if out == "" {
		return nil, errs.Invalid("no place to export to")
	}
	var s sink
	if strings.EqualFold(filepath.Ext(out), ".zip") {
		if _, err := os.Lstat(out); err == nil {
			return nil, errs.Invalid("%s already exists: choose a new name for the export", out)
		}
		s, err = newZipSink(out)
	} else {
		if err := checkEmpty(out); err != nil {
			return nil, errs.Invalid("%s is not empty: export into a new or empty folder", out)
		}
		s, err = newDirSink(out)
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.abort())
		}
	}()
	accs, err := e.Accounts.List(ctx)
	if err != nil {
		return nil, err
	}
	sum := &ExportSummary{Path: out}
	for _, a := range accs {
		ea, err := exportAccount(ctx, e, s, a.DID, a.Handle.String(), progress)
		if err != nil {
			return nil, err
		}
		sum.Accounts = append(sum.Accounts, *ea)
	}
	if err := writeEntry(s, exportReadme, []byte(readme(sum))); err != nil {
		return nil, err
	}
	if err := s.commit(); err != nil {
		return nil, err
	}
	report(progress, "done", 1, 1)
	return sum, nil
}

func exportAccount(ctx context.Context, e *pds.Engine, s sink, did syntax.DID, handle string, progress func(Progress)) (*ExportedAccount, error) {
	ea := &ExportedAccount{DID: did.String(), Handle: handle, Folder: blobDir(did.String())}
	at := func(name string) string { return ea.Folder + "/" + name }
	report(progress, "exporting the repo of "+handle, 0, 0)
	w, err := s.create(at(ExportCAR))
	if err != nil {
		return nil, err
	}
	err = e.Repos.ExportRepo(ctx, did, "", w, func(p repos.ProgressEvent) {
		report(progress, "exporting the repo of "+handle+": "+p.Phase, p.Done, p.Total)
	})
	if err = errors.Join(err, w.Close()); err != nil {
		return nil, fmt.Errorf("export the repo of %s: %w", did, err)
	}
	infos, err := e.Blobs.Details(ctx, did)
	if err != nil {
		return nil, err
	}
	for i, info := range infos {
		if err := exportBlob(ctx, e, s, did, info.CID, at(ExportBlobs+"/"+info.CID)); err != nil {
			return nil, err
		}
		ea.Blobs++
		report(progress, "exporting the blobs of "+handle, int64(i+1), int64(len(infos)))
	}
	prefs, err := e.Accounts.GetPreferences(ctx, did)
	if err != nil {
		return nil, err
	}
	if err := writeJSON(s, at(ExportPreferences), map[string]json.RawMessage{"preferences": prefs}); err != nil {
		return nil, err
	}
	ops, err := e.Identity.OperationLog(ctx, did)
	if err != nil {
		return nil, err
	}
	ea.PLCOps = len(ops)
	if err := writeJSON(s, at(ExportPLCLog), ops); err != nil {
		return nil, err
	}
	text, err := recoveryText(ctx, e, did, handle)
	if err != nil {
		return nil, err
	}
	ea.RecoveryKey = !hid.IsWebDID(did)
	if err := writeEntry(s, at(ExportRecoveryKey), []byte(text)); err != nil {
		return nil, err
	}
	return ea, nil
}

func exportBlob(ctx context.Context, e *pds.Engine, s sink, did syntax.DID, cidStr, name string) error {
	c, err := cid.Decode(cidStr)
	if err != nil {
		return fmt.Errorf("blob %s of %s: %w", cidStr, did, err)
	}
	f, _, err := e.Blobs.Open(ctx, did, c) // checks the bytes against the CID
	if err != nil {
		return fmt.Errorf("export blob %s: %w", c, err)
	}
	defer f.Close() //nolint:errcheck // read only
	w, err := s.create(name)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	if err = errors.Join(err, w.Close()); err != nil {
		return fmt.Errorf("export blob %s: %w", c, err)
	}
	return nil
}

// Labels in RECOVERY-KEY.txt (tests and people read them).
const (
	LabelPrivateKey = "PRIVATE rotation key (secp256k1, hex): "
	LabelDIDKey     = "Its public key (did:key): "
)

// recoveryText is RECOVERY-KEY.txt: the PLC rotation key Hearth holds,
// clearly labelled as the key to the identity.
func recoveryText(ctx context.Context, e *pds.Engine, did syntax.DID, handle string) (string, error) {
	if hid.IsWebDID(did) {
		return fmt.Sprintf("%s (%s) is a did:web: it has no rotation key. Whoever controls the domain controls the identity.\n", handle, did), nil
	}
	priv, didKey, err := e.Identity.RecoveryKey(ctx, did)
	if err != nil {
		return "", err
	}
	user, err := e.Identity.UserRecoveryKey(ctx, did)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "RECOVERY KEY of %s (%s)\n\n", handle, did)
	b.WriteString("This is the did:plc rotation key Hearth holds for your identity. WHOEVER HAS\n")
	b.WriteString("THIS KEY CONTROLS YOUR IDENTITY: keep this file offline and private, or\n")
	b.WriteString("delete it once your identity is moved and Hearth's key removed.\n\n")
	b.WriteString(LabelPrivateKey + priv + "\n")
	b.WriteString(LabelDIDKey + didKey + "\n")
	if user != "" {
		fmt.Fprintf(&b, "\nYou also hold a recovery key of your own (%s), ranked above this one;\nHearth does not keep its private half.\n", user)
	}
	return b.String(), nil
}

func readme(s *ExportSummary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Hearth export, %s\n\nEverything Hearth held, in open formats, to take elsewhere.\nOne folder per account:\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "  %-20s the repository (CAR v1; import with com.atproto.repo.importRepo)\n", ExportCAR)
	fmt.Fprintf(&b, "  %-20s every blob, named by its CID (upload with com.atproto.repo.uploadBlob)\n", ExportBlobs+"/")
	fmt.Fprintf(&b, "  %-20s the app preferences (app.bsky.actor.putPreferences)\n", ExportPreferences)
	fmt.Fprintf(&b, "  %-20s the did:plc operations Hearth signed or stored, oldest first\n", ExportPLCLog)
	fmt.Fprintf(&b, "  %-20s the PLC rotation key: PRIVATE, it controls the identity\n\n", ExportRecoveryKey)
	for _, a := range s.Accounts {
		fmt.Fprintf(&b, "%s: %s (%s), %d blobs, %d PLC operations\n", a.Folder, a.Handle, a.DID, a.Blobs, a.PLCOps)
	}
	return b.String()
}

func writeJSON(s sink, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return writeEntry(s, name, append(b, '\n'))
}

func writeEntry(s sink, name string, b []byte) error {
	w, err := s.create(name)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	if err = errors.Join(err, w.Close()); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// sink is where an export goes: a folder or a zip file, each written under
// a temporary name and moved into place by commit.
type sink interface {
	create(name string) (io.WriteCloser, error) // name uses '/'
	commit() error
	abort() error
}

type dirSink struct{ tmp, out string }

func newDirSink(out string) (*dirSink, error) {
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".exporting-*")
	if err != nil {
		return nil, fmt.Errorf("make a temporary folder for the export: %w", err)
	}
	return &dirSink{tmp: tmp, out: out}, nil
}

func (d *dirSink) create(name string) (io.WriteCloser, error) {
	p := filepath.Join(d.tmp, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(p), err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	return f, nil
}

func (d *dirSink) commit() error {
	if err := os.Remove(d.out); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("export to %s: %w", d.out, err)
	}
	if err := os.Rename(d.tmp, d.out); err != nil {
		return fmt.Errorf("move the export to %s: %w", d.out, err)
	}
	return nil
}

func (d *dirSink) abort() error { return os.RemoveAll(d.tmp) }

type zipSink struct {
	f   *os.File
	zw  *zip.Writer
	out string
}

func newZipSink(out string) (*zipSink, error) {
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create the export file: %w", err)
	}
	return &zipSink{f: f, zw: zip.NewWriter(f), out: out}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func (z *zipSink) create(name string) (io.WriteCloser, error) {
	w, err := z.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Now()})
	if err != nil {
		return nil, fmt.Errorf("add %s to the zip: %w", name, err)
	}
	return nopCloser{w}, nil
}

func (z *zipSink) commit() error {
	err := z.zw.Close()
	if err == nil {
		err = z.f.Sync()
	}
	if err := errors.Join(err, z.f.Close()); err != nil {
		return fmt.Errorf("write %s: %w", z.f.Name(), err)
	}
	if err := os.Rename(z.f.Name(), z.out); err != nil {
		return fmt.Errorf("move the export to %s: %w", z.out, err)
	}
	return nil
}

func (z *zipSink) abort() error {
	_ = z.f.Close() // may be closed already; the file goes either way
	return os.Remove(z.f.Name())
}
