package oauth

import (
	"context"
	"fmt"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/store"
)

// GrantInfo is one app signed in to an account, for the desktop's
// Connected apps.
type GrantInfo struct {
	ID          string
	DID         syntax.DID
	ClientID    string
	ClientName  string
	Scope       string
	Permissions []string
	CreatedAt   time.Time
	LastUsedAt  time.Time
	ExpiresAt   time.Time
}

// Grants lists the live grants, most recently used first.
func (s *Server) Grants(ctx context.Context) ([]GrantInfo, error) {
	var out []GrantInfo
	now := s.cfg.Now().Unix()
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(`SELECT id, did, client_id, client_name, scope, created_at, last_used_at, expires_at
			FROM oauth_grant WHERE expires_at >= ? AND refresh_expires_at >= ? ORDER BY last_used_at DESC`, now, now)
		if err != nil {
			return err
		}
		defer func() { _ = rows.Close() }() // read-only
		for rows.Next() {
			var g GrantInfo
			var did string
			var c, l, e int64
			if err := rows.Scan(&g.ID, &did, &g.ClientID, &g.ClientName, &g.Scope, &c, &l, &e); err != nil {
				return err
			}
			g.DID = syntax.DID(did)
			g.CreatedAt, g.LastUsedAt, g.ExpiresAt = time.Unix(c, 0), time.Unix(l, 0), time.Unix(e, 0)
			sc, _ := ParseGrantedScopes(g.Scope)
			g.Permissions = sc.Describe()
			out = append(out, g)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list oauth grants: %w", err)
	}
	return out, nil
}

// Revoke ends a grant: its refresh token stops working at once, and so do
// its access tokens (every resource request checks the grant).
func (s *Server) Revoke(ctx context.Context, id string) error {
	if err := s.db.Write(ctx, func(tx *store.Tx) error { return revokeGrantTx(tx, id) }); err != nil {
		return fmt.Errorf("revoke oauth grant: %w", err)
	}
	return nil
}
