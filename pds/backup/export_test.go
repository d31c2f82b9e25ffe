package backup_test

import (
	"archive/zip"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/backup"
	"github.com/hearth-pds/hearth/pds/identity"
)

// CheckExport checks a portable export's files for one account, read by
// open (relative names with '/'): the CAR verifies against the DID
// document, every blob hashes to its CID, the preferences and PLC log
// parse (each op's prev is the CID of the one before), and the recovery key
// is the DID's rotation key.
func checkExport(t *testing.T, p *testpds.PDS, acc testpds.Account, names []string, open func(string) []byte) {
	t.Helper()
	dir := strings.ReplaceAll(acc.DID, ":", "_") + "/"
	vr := testpds.VerifyRepoCAR(t, p.Dir, open(dir+backup.ExportCAR))
	if len(vr.Records) == 0 {
		t.Fatal("the exported repo is empty")
	}
	blobs := 0
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, dir+backup.ExportBlobs+"/")
		if !ok || rest == "" {
			continue
		}
		c, err := cid.Decode(rest)
		if err != nil {
			t.Fatalf("blob file %s: %v", n, err)
		}
		got, err := c.Prefix().Sum(open(n))
		if err != nil || !got.Equals(c) {
			t.Fatalf("blob %s hashes to %s", c, got)
		}
		blobs++
	}
	if blobs != 1 {
		t.Fatalf("%d blobs exported, want 1", blobs)
	}
	var prefs struct{ Preferences []map[string]any }
	if err := json.Unmarshal(open(dir+backup.ExportPreferences), &prefs); err != nil || len(prefs.Preferences) != 1 {
		t.Fatalf("preferences: %+v %v", prefs, err)
	}
	var ops []identity.LoggedOp
	if err := json.Unmarshal(open(dir+backup.ExportPLCLog), &ops); err != nil || len(ops) == 0 {
		t.Fatalf("PLC log: %d ops, %v", len(ops), err)
	}
	for i, op := range ops {
		var body struct {
			Prev *string `json:"prev"`
			Sig  string  `json:"sig"`
		}
		if err := json.Unmarshal(op.Operation, &body); err != nil || body.Sig == "" || op.DID != acc.DID || op.CID == "" {
			t.Fatalf("op %d: %+v %v", i, op, err)
		}
		if (i == 0) != (body.Prev == nil) || i > 0 && *body.Prev != ops[i-1].CID {
			t.Fatalf("op %d's prev does not chain to op %d", i, i-1)
		}
	}
	text := string(open(dir + backup.ExportRecoveryKey))
	var privHex, didKey string
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, backup.LabelPrivateKey); ok {
			privHex = v
		}
		if v, ok := strings.CutPrefix(line, backup.LabelDIDKey); ok {
			didKey = v
		}
	}
	raw, err := hex.DecodeString(privHex)
	if err != nil {
		t.Fatalf("recovery key: %v\n%s", err, text)
	}
	priv, err := atcrypto.ParsePrivateBytesK256(raw)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := priv.PublicKey()
	st, err := p.Engine.Identity.State(ctx, syntax.DID(acc.DID))
	if err != nil {
		t.Fatal(err)
	}
	if pub.DIDKey() != didKey || !contains(st.RotationKeys, didKey) {
		t.Fatalf("recovery key %s is not among the DID's rotation keys %v", didKey, st.RotationKeys)
	}
}

func TestExportFolderAndZip(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ name, out string }{{"folder", "export"}, {"zip", "export.zip"}} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), tc.out)
			var steps int
			sum, err := backup.Export(ctx, f.p.Engine, out, func(backup.Progress) { steps++ })
			if err != nil {
				t.Fatal(err)
			}
			if len(sum.Accounts) != 1 || sum.Accounts[0].Blobs != 1 || !sum.Accounts[0].RecoveryKey || steps == 0 {
				t.Fatalf("summary %+v, %d progress steps", sum, steps)
			}
			var names []string
			var open func(string) []byte
			if tc.name == "zip" {
				zr, err := zip.OpenReader(out)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = zr.Close() }()
				files := map[string]*zip.File{}
				for _, zf := range zr.File {
					names = append(names, zf.Name)
					files[zf.Name] = zf
				}
				open = func(n string) []byte {
					zf, ok := files[n]
					if !ok {
						t.Fatalf("%s missing from the zip (%v)", n, names)
					}
					rc, err := zf.Open()
					if err != nil {
						t.Fatal(err)
					}
					defer func() { _ = rc.Close() }()
					b, err := io.ReadAll(rc)
					if err != nil {
						t.Fatal(err)
					}
					return b
				}
			} else {
				_ = filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						rel, _ := filepath.Rel(out, p)
						names = append(names, filepath.ToSlash(rel))
					}
					return err
				})
				open = func(n string) []byte {
					b, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(n)))
					if err != nil {
						t.Fatal(err)
					}
					return b
				}
			}
			if !bytes.Contains(open("README.txt"), []byte(f.acc.DID)) {
				t.Fatal("README.txt does not name the account")
			}
			checkExport(t, f.p, f.acc, names, open)
			// A second export to the same place is refused.
			if _, err := backup.Export(ctx, f.p.Engine, out, nil); err == nil {
				t.Fatal("export over an existing export")
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
