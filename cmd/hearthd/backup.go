package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hearth-pds/hearth/pds/backup"
	"github.com/hearth-pds/hearth/pds/secrets"
)

// readPassphrase reads a backup passphrase from a file: its contents
// without one trailing newline (as an editor or `echo` leaves it).
func readPassphrase(path string) (string, error) {
	if path == "" {
		return "", errors.New("--passphrase-file is required (a file holding the backup's passphrase)")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read the passphrase file: %w", err)
	}
	defer f.Close() //nolint:errcheck // read only
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", fmt.Errorf("read the passphrase file: %w", err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return "", fmt.Errorf("the passphrase file %s is empty", path)
	}
	return string(b), nil
}

// progressTo prints a job's phases (not every step) to w.
func progressTo(w io.Writer) func(backup.Progress) {
	last := ""
	return func(p backup.Progress) {
		if p.Phase != last {
			last = p.Phase
			_, _ = fmt.Fprintf(w, "%s…\n", p.Phase) // progress only
		}
	}
}

// backupCreate writes an encrypted backup of a data folder, also while
// hearthd serve or the app runs on it (it takes no lock and opens no
// engine: it reads a consistent snapshot of the database).
func backupCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup create", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "data folder to back up (may be in use by hearthd serve or the app)")
	out := fs.String("out", "", "backup file to write (must not exist)")
	passFile := fs.String("passphrase-file", "", "file holding the passphrase that encrypts the backup")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dataDir == "" || *out == "" {
		return errors.New("--data-dir and --out are required")
	}
	pass, err := readPassphrase(*passFile)
	if err != nil {
		return err
	}
	start := time.Now()
	m, size, err := backup.CreateFile(ctx, backup.Options{DataDir: *dataDir, Passphrase: pass, Progress: progressTo(stderr)}, *out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "backup written to %s (%d bytes, %s): %s\n", *out, size, time.Since(start).Round(time.Millisecond), describe(m))
	return err
}

func describe(m *backup.Manifest) string {
	var parts []string
	for _, a := range m.Accounts {
		parts = append(parts, fmt.Sprintf("%s (%s) %d records, head %s", a.Handle, a.DID, a.Records, a.Commit))
	}
	return fmt.Sprintf("%d account(s) [%s], %d blobs (%d bytes), taken %s", len(m.Accounts), strings.Join(parts, "; "), m.Blobs, m.BlobBytes, m.CreatedAt.Format(time.RFC3339))
}

// backupRestore restores a backup into a new (or empty) folder.
func backupRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup restore", flag.ContinueOnError)
	in := fs.String("in", "", "backup file to restore")
	dataDir := fs.String("data-dir", "", "new data folder to restore into (must not exist or be empty)")
	passFile := fs.String("passphrase-file", "", "file holding the backup's passphrase")
	keyStore := fs.String("key-store", secrets.StoreAuto, "where the restored folder keeps its data key: auto (the OS keyring if one answers, else DIR/keys/data.key), keyring, or file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *in == "" || *dataDir == "" {
		return errors.New("--in and --data-dir are required")
	}
	pass, err := readPassphrase(*passFile)
	if err != nil {
		return err
	}
	f, err := os.Open(*in)
	if err != nil {
		return fmt.Errorf("open the backup: %w", err)
	}
	defer f.Close() //nolint:errcheck // read only
	m, err := backup.Restore(ctx, f, backup.RestoreOptions{DataDir: *dataDir, Passphrase: pass, KeyStore: *keyStore,
		Progress: progressTo(stderr), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "restored into %s and verified: %s\nStart it with: hearthd serve --data-dir %s --public-url URL\n", *dataDir, describe(m), *dataDir)
	return err
}

// exportCmd writes the portable export (CAR, blobs, preferences, PLC log,
// recovery key) to a folder or a .zip.
func exportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	var ef engineFlags
	ef.register(fs)
	out := fs.String("out", "", "folder to create, or a file ending in .zip")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	if ef.publicURL == "" {
		ef.publicURL = "http://localhost"
	}
	e, err := ef.open(ctx, newLogger(stderr, "warn"))
	if err != nil {
		return err
	}
	defer closeInto(&err, "engine", e)
	sum, err := backup.Export(ctx, e, *out, progressTo(stderr))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "exported %d account(s) to %s; each %s holds the PRIVATE key to the identity: keep it offline\n", len(sum.Accounts), *out, backup.ExportRecoveryKey)
	return err
}
