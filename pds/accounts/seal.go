package accounts

import (
	"context"
	"fmt"

	"github.com/hearth-pds/hearth/pds/secrets"
	"github.com/hearth-pds/hearth/pds/store"
)

// sealPlain encrypts every private key and the session secret that is
// still stored plain, in one transaction: all of them or none. Sealed
// values are left alone, so running it again changes nothing.
func sealPlain(ctx context.Context, db *store.Store, box *secrets.Box) error {
	return db.Write(ctx, func(tx *store.Tx) error {
		type plainRow struct {
			did               string
			signing, rotation []byte
		}
		rows, err := tx.Query("SELECT did, signing_key, rotation_key FROM account")
		if err != nil {
			return fmt.Errorf("read account keys: %w", err)
		}
		var todo []plainRow
		for rows.Next() {
			var r plainRow
			if err := rows.Scan(&r.did, &r.signing, &r.rotation); err != nil {
				_ = rows.Close()
				return fmt.Errorf("read account keys: %w", err)
			}
			if !secrets.IsSealed(r.signing) || !secrets.IsSealed(r.rotation) {
				todo = append(todo, r)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read account keys: %w", err)
		}
		for _, r := range todo {
			if r.signing, err = sealIfPlain(box, r.signing, signingLabel(r.did)); err != nil {
				return err
			}
			if r.rotation, err = sealIfPlain(box, r.rotation, rotationLabel(r.did)); err != nil {
				return err
			}
			if _, err := tx.Exec("UPDATE account SET signing_key = ?, rotation_key = ? WHERE did = ?", r.signing, r.rotation, r.did); err != nil {
				return fmt.Errorf("seal keys of %s: %w", r.did, err)
			}
		}
		secret, ok, err := tx.Setting(settingJWTSecret)
		if err != nil || !ok || secrets.IsSealed(secret) {
			return err
		}
		sealed, err := box.Seal(secret, settingJWTSecret)
		if err != nil {
			return err
		}
		return tx.PutSetting(settingJWTSecret, sealed)
	})
}

func sealIfPlain(box *secrets.Box, v []byte, label string) ([]byte, error) {
	if secrets.IsSealed(v) {
		return v, nil
	}
	return box.Seal(v, label)
}
