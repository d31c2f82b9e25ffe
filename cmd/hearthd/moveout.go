package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/outbox"
)

// outboxList prints the outbox of DIR, one JSON object per line (newest
// first): the tokens the reference PDS would have emailed. It reads the
// database over a read-only connection of its own and takes no lock, so it
// works while hearthd serve or the desktop app runs on DIR.
func outboxList(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("outbox list", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "data directory")
	didFlag := fs.String("did", "", "only this account's messages")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dataDir == "" {
		return errors.New("--data-dir (or HEARTH_DATA_DIR) is required")
	}
	var did syntax.DID
	if *didFlag != "" {
		d, err := syntax.ParseDID(*didFlag)
		if err != nil {
			return fmt.Errorf("--did: %w", err)
		}
		did = d
	}
	msgs, err := outbox.ListFolder(ctx, *dataDir, did)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for _, m := range msgs {
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	return nil
}

// accountRecoveryKey prints the account's PLC rotation key as Hearth holds
// it (the key that signs its identity changes), for someone who moves the
// account with goat or another tool, with a warning on stderr. It opens
// the folder, so hearthd serve must not be running on it.
func accountRecoveryKey(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("account recovery-key", flag.ContinueOnError)
	var ef engineFlags
	ef.register(fs)
	didFlag := fs.String("did", "", "the account's DID")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	did, err := syntax.ParseDID(*didFlag)
	if err != nil {
		return fmt.Errorf("--did (or HEARTH_DID) must be the account's DID: %w", err)
	}
	e, err := ef.open(ctx, newLogger(stderr, "warn"))
	if err != nil {
		return err
	}
	defer closeInto(&err, "engine", e)
	priv, didKey, err := e.Identity.RecoveryKey(ctx, did)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stderr, `WARNING: this is the private rotation key of %s.
Whoever holds it controls the identity: they can move it anywhere and lock
you out. Do not paste it into a website or a chat; keep it offline.
`, did); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "private key (secp256k1, hex): %s\npublic key: %s\n", priv, didKey)
	return err
}
