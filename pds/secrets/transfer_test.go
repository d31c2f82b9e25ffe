package secrets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// memKeyring is an in-memory keyring; down makes it fail like a locked one.
type memKeyring struct {
	m    map[string]string
	down bool
}

func (k *memKeyring) Get(svc, user string) (string, error) {
	if k.down {
		return "", errors.New("keyring locked")
	}
	s, ok := k.m[svc+"/"+user]
	if !ok {
		return "", errors.New("no such entry")
	}
	return s, nil
}

func (k *memKeyring) Set(svc, user, secret string) error {
	if k.down {
		return errors.New("keyring locked")
	}
	k.m[svc+"/"+user] = secret
	return nil
}

// A data key read from one folder and installed in another opens what the
// first sealed, wherever each folder keeps it.
func TestReadDataKeyThenInstall(t *testing.T) {
	for _, tc := range []struct {
		name       string
		from, to   string
		down       bool
		wantWhere  string
		wantFailTo bool
	}{
		{name: "file to file", from: StoreFile, to: StoreFile, wantWhere: "file "},
		{name: "keyring to keyring", from: StoreKeyring, to: StoreAuto, wantWhere: "OS keyring"},
		{name: "keyring to file", from: StoreKeyring, to: StoreFile, wantWhere: "file "},
		{name: "auto without a keyring falls back to the file", from: StoreFile, to: StoreAuto, down: true, wantWhere: "file "},
		{name: "keyring mode without a keyring fails", from: StoreFile, to: StoreKeyring, down: true, wantFailTo: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kr := &memKeyring{m: map[string]string{}}
			src, dst := t.TempDir(), t.TempDir()
			box, err := Load(src, tc.from, kr)
			if err != nil {
				t.Fatal(err)
			}
			sealed, err := box.Seal([]byte("private key"), "label")
			if err != nil {
				t.Fatal(err)
			}
			key, _, err := ReadDataKey(src, kr)
			if err != nil {
				t.Fatal(err)
			}
			kr.down = tc.down
			where, err := Install(dst, key, tc.to, kr)
			if tc.wantFailTo {
				if err == nil {
					t.Fatalf("installed in %s without a keyring", where)
				}
				return
			}
			if err != nil || !strings.HasPrefix(where, tc.wantWhere) {
				t.Fatalf("Install: %q %v", where, err)
			}
			box2, err := Load(dst, StoreAuto, kr)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := box2.Open(sealed, "label")
			if err != nil || !bytes.Equal(plain, []byte("private key")) {
				t.Fatalf("open in the new folder: %q %v", plain, err)
			}
			if _, err := Install(dst, key, tc.to, kr); err == nil {
				t.Fatal("Install replaced an existing data key")
			}
		})
	}
}

func TestReadDataKeyRefusesAFolderWithoutOne(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := ReadDataKey(dir, &memKeyring{m: map[string]string{}}); err == nil || !strings.Contains(err.Error(), "has no data key") {
		t.Fatalf("err = %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, KeysDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, KeysDir, keyFile), []byte("not base64!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadDataKey(dir, nil); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("err = %v", err)
	}
}
