package blobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/blobstore"
)

// Damaged is a blob that failed verification.
type Damaged struct {
	CID    string `json:"cid"`
	Reason string `json:"reason"`
}

// Verify hashes every blob of did against its CID. It returns how many it
// checked and those missing or damaged; the error is for failures to check.
func (b *Blobs) Verify(ctx context.Context, did syntax.DID) (checked int, damaged []Damaged, err error) {
	rows, err := b.db.R.QueryContext(ctx, "SELECT cid FROM blob WHERE did = ? ORDER BY cid", did.String())
	if err != nil {
		return 0, nil, fmt.Errorf("list blobs: %w", err)
	}
	var all []string
	for rows.Next() {
		var cs string
		if err := rows.Scan(&cs); err != nil {
			_ = rows.Close()
			return 0, nil, fmt.Errorf("list blobs: %w", err)
		}
		all = append(all, cs)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, nil, fmt.Errorf("list blobs: %w", err)
	}
	for _, cs := range all {
		if err := ctx.Err(); err != nil {
			return checked, damaged, err
		}
		checked++
		c, err := cid.Decode(cs)
		if err != nil {
			damaged = append(damaged, Damaged{CID: cs, Reason: "not a valid CID"})
			continue
		}
		f, err := b.files.Open(did.String(), c)
		switch {
		case errors.Is(err, blobstore.ErrCorrupt):
			damaged = append(damaged, Damaged{CID: cs, Reason: "its bytes do not match its CID"})
		case err != nil:
			damaged = append(damaged, Damaged{CID: cs, Reason: fmt.Sprintf("cannot be read: %v", err)})
		default:
			_ = f.Close() // read-only
		}
	}
	return checked, damaged, nil
}
