package secrets

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/hearth-pds/hearth/pds/errs"
)

// Where the data key may be kept (Config.KeyStore, hearthd --key-store).
const (
	StoreAuto    = "auto"    // the OS keyring if it answers, else the file
	StoreFile    = "file"    // keys/data.key in the data folder (headless servers)
	StoreKeyring = "keyring" // the OS keyring, or fail
)

// Files under the data folder's keys/ folder.
const (
	KeysDir     = "keys"
	keyFile     = "data.key" // the data key itself (base64), 0600
	keyringFile = "keyring"  // names the keyring entry holding the data key
	service     = "hearth"   // the keyring service name
)

// Keyring is the OS keyring (see OSKeyring).
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
}

// OSKeyring is the operating system's keyring through go-keyring, with
// every call bounded by Timeout (a session bus without a Secret Service
// can otherwise keep a caller waiting for D-Bus activation).
type OSKeyring struct{ Timeout time.Duration }

func (k OSKeyring) bounded(fn func() (string, error)) (string, error) {
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1) // buffered: a late answer does not block the goroutine
	go func() {
		s, err := fn()
		ch <- result{s, err}
	}()
	t := k.Timeout
	if t <= 0 {
		t = 3 * time.Second
	}
	timer := time.NewTimer(t)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-timer.C:
		return "", fmt.Errorf("the OS keyring did not answer within %s", t)
	}
}

// Get reads a secret.
func (k OSKeyring) Get(svc, user string) (string, error) {
	return k.bounded(func() (string, error) { return keyring.Get(svc, user) })
}

// Set stores a secret.
func (k OSKeyring) Set(svc, user, secret string) error {
	_, err := k.bounded(func() (string, error) { return "", keyring.Set(svc, user, secret) })
	return err
}

// Load returns the Box for the data folder dir, creating the data key on
// first use in the place mode asks for. A key that was kept in the keyring
// is only ever read from there: when the keyring does not answer, Load
// fails (it never makes a new key, which could not open what is sealed).
func Load(dir, mode string, kr Keyring) (*Box, error) {
	kdir := filepath.Join(dir, KeysDir)
	switch mode {
	case "", StoreAuto, StoreFile, StoreKeyring:
	default:
		return nil, errs.Invalid("unknown key store %q (want auto, file or keyring)", mode)
	}
	if b, err := os.ReadFile(filepath.Join(kdir, keyFile)); err == nil {
		return fileBox(kdir, b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read data key: %w", err)
	}
	if b, err := os.ReadFile(filepath.Join(kdir, keyringFile)); err == nil {
		return keyringBox(kdir, strings.TrimSpace(string(b)), kr)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read data key location: %w", err)
	}
	return create(kdir, mode, kr)
}

func fileBox(kdir string, b []byte) (*Box, error) {
	key, where, err := fileKey(kdir, b)
	if err != nil {
		return nil, err
	}
	return NewBox(key, where)
}

func keyringBox(kdir, user string, kr Keyring) (*Box, error) {
	key, where, err := keyringKey(kdir, user, kr)
	if err != nil {
		return nil, err
	}
	return NewBox(key, where)
}

// keyringKey reads the data key from the keyring entry user.
func keyringKey(kdir, user string, kr Keyring) ([]byte, string, error) {
	if kr == nil {
		kr = OSKeyring{}
	}
	s, err := kr.Get(service, user)
	if err != nil {
		return nil, "", errs.Wrap(errs.ErrDataDamaged, err,
			"the data key of this folder is kept in the OS keyring (service %q, entry %q, as %s says) and could not be read: %v. Unlock or start the keyring (log in to the desktop session) and try again",
			service, user, filepath.Join(kdir, keyringFile), err)
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(key) != KeySize {
		return nil, "", errs.New(errs.ErrDataDamaged, "the data key in the OS keyring (service %q, entry %q) is damaged", service, user)
	}
	return key, fmt.Sprintf("OS keyring (service %q, entry %q)", service, user), nil
}

// fileKey decodes the contents b of keys/data.key.
func fileKey(kdir string, b []byte) ([]byte, string, error) {
	path := filepath.Join(kdir, keyFile)
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != KeySize {
		return nil, "", errs.New(errs.ErrDataDamaged, "the data key %s is damaged: the private keys sealed with it cannot be opened; restore the folder from a backup", path)
	}
	return key, "file " + path, nil
}

func create(kdir, mode string, kr Keyring) (*Box, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("make data key: %w", err)
	}
	where, err := install(kdir, key, mode, kr)
	if err != nil {
		return nil, err
	}
	return NewBox(key, where)
}

// install keeps key as the data key of the folder whose keys/ folder is
// kdir, where mode asks (see create), and says where it went.
func install(kdir string, key []byte, mode string, kr Keyring) (string, error) {
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", kdir, err)
	}
	enc := base64.StdEncoding.EncodeToString(key)
	if mode != StoreFile {
		if kr == nil {
			kr = OSKeyring{}
		}
		id := make([]byte, 16)
		if _, err := rand.Read(id); err != nil {
			return "", fmt.Errorf("make keyring entry name: %w", err)
		}
		user := "data-key-" + hex.EncodeToString(id)
		err := kr.Set(service, user, enc)
		if err == nil {
			// The entry name goes to disk only once the keyring holds it.
			if err := writeNew(filepath.Join(kdir, keyringFile), []byte(user+"\n")); err != nil {
				return "", err
			}
			return fmt.Sprintf("OS keyring (service %q, entry %q)", service, user), nil
		}
		if mode == StoreKeyring {
			return "", fmt.Errorf("keep the data key in the OS keyring: %w", err)
		}
	}
	path := filepath.Join(kdir, keyFile)
	if err := writeNew(path, []byte(enc+"\n")); err != nil {
		return "", err
	}
	return "file " + path, nil
}

// writeNew writes a new 0600 file durably; it refuses to replace one.
func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("sync %s: %w", filepath.Dir(path), err)
	}
	return errors.Join(d.Sync(), d.Close())
}
