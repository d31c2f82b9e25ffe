package accounts

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/store"
)

// GetPreferences returns the account's stored preferences (a JSON array).
func (a *Accounts) GetPreferences(ctx context.Context, did syntax.DID) (json.RawMessage, error) {
	var b []byte
	err := a.db.R.QueryRowContext(ctx, "SELECT prefs FROM preference WHERE did = ?", did.String()).Scan(&b)
	if err == sql.ErrNoRows {
		return json.RawMessage("[]"), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read preferences: %w", err)
	}
	return b, nil
}

// PutPreferences replaces the account's preferences. Each must be an object
// with an app.bsky.actor.defs#… $type, as the reference PDS requires.
func (a *Accounts) PutPreferences(ctx context.Context, did syntax.DID, prefs json.RawMessage, privileged bool) error {
	var list []map[string]any
	if err := json.Unmarshal(prefs, &list); err != nil {
		return errs.Invalid("preferences must be an array of objects")
	}
	for _, p := range list {
		t, _ := p["$type"].(string)
		if !strings.HasPrefix(t, "app.bsky.") {
			return errs.Invalid("preference without an app.bsky $type: %q", t)
		}
		if t == "app.bsky.actor.defs#personalDetailsPref" && !privileged {
			return errs.Invalid("personal details may only be changed with a privileged session")
		}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return fmt.Errorf("encode preferences: %w", err)
	}
	return a.db.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec("INSERT INTO preference(did, prefs) VALUES(?, ?) ON CONFLICT(did) DO UPDATE SET prefs = excluded.prefs", did.String(), b); err != nil {
			return fmt.Errorf("store preferences: %w", err)
		}
		return nil
	})
}
