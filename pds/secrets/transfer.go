package secrets

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hearth-pds/hearth/pds/errs"
)

// ReadDataKey returns the data key of the folder dir and where it is kept,
// from keys/data.key or the OS keyring entry keys/keyring names, without
// creating one: a backup carries it (inside its encryption) so the sealed
// private keys open on another machine. It needs no folder lock (it only
// reads). A folder without a data key is an error.
func ReadDataKey(dir string, kr Keyring) (key []byte, where string, err error) {
	kdir := filepath.Join(dir, KeysDir)
	if b, err := os.ReadFile(filepath.Join(kdir, keyFile)); err == nil {
		return fileKey(kdir, b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("read data key: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(kdir, keyringFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", errs.New(errs.ErrDataDamaged, "the data folder %s has no data key (neither %s nor %s exists)", dir, filepath.Join(kdir, keyFile), filepath.Join(kdir, keyringFile))
	}
	if err != nil {
		return nil, "", fmt.Errorf("read data key location: %w", err)
	}
	return keyringKey(kdir, strings.TrimSpace(string(b)), kr)
}

// Install makes key the data key of the folder dir, which must have none
// yet (a restore puts back the key a backup carried), kept where mode asks
// as for a new key: the OS keyring when it answers (StoreAuto,
// StoreKeyring), else keys/data.key (0600). It says where the key went.
func Install(dir string, key []byte, mode string, kr Keyring) (string, error) {
	switch mode {
	case "", StoreAuto, StoreFile, StoreKeyring:
	default:
		return "", errs.Invalid("unknown key store %q (want auto, file or keyring)", mode)
	}
	if len(key) != KeySize {
		return "", fmt.Errorf("data key is %d bytes, want %d", len(key), KeySize)
	}
	return install(filepath.Join(dir, KeysDir), key, mode, kr)
}
