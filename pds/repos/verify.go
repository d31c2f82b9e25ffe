package repos

import (
	"context"
	"database/sql"
	"fmt"
	"io"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/store"
)

// Check is what verifying one repo found. Problems is empty for a sound
// repo.
type Check struct {
	DID      syntax.DID
	Rev      string
	Commit   string
	Records  int
	Problems []string
}

// Verify checks did's repo end to end: the head commit, every MST node and
// record block (each hashed against its CID), the tree's structure, the
// commit's signature under the account's signing key, and that the record
// table holds exactly the records the tree names. What it finds wrong goes
// in Check.Problems; the error is for failures to check at all.
func (r *Repos) Verify(ctx context.Context, did syntax.DID) (*Check, error) {
	chk := &Check{DID: did}
	pr, pw := io.Pipe()
	exported := make(chan error, 1)
	go func() {
		err := r.ExportRepo(ctx, did, "", pw, nil)
		pw.CloseWithError(err)
		exported <- err
	}()
	p, perr := r.ParseCAR(ctx, pr, 0, nil)
	_ = pr.CloseWithError(io.ErrClosedPipe) // unblocks the export if parsing stopped early
	defer func() { _ = p.Close() }()
	if err := <-exported; err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		chk.Problems = append(chk.Problems, fmt.Sprintf("the repo cannot be exported: %v", err))
		return chk, nil
	}
	if perr != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		chk.Problems = append(chk.Problems, fmt.Sprintf("the exported repo does not verify: %v", perr))
		return chk, nil
	}
	chk.Rev, chk.Commit, chk.Records = p.Summary.Rev, p.Summary.Commit, p.Summary.Records
	if p.Commit.DID != did.String() {
		chk.Problems = append(chk.Problems, fmt.Sprintf("the head commit names %s", p.Commit.DID))
	}
	// The block table must hold exactly the tree (compared when no write
	// came since the export: the count and head are read together).
	var stored int
	var headRev string
	err := r.db.Read(ctx, func(tx *store.Tx) error {
		if err := tx.QueryRow("SELECT rev FROM repo_root WHERE did = ?", did.String()).Scan(&headRev); err != nil {
			return err
		}
		return tx.QueryRow(sqlCountNodes, did.String()).Scan(&stored)
	})
	if err != nil {
		return nil, fmt.Errorf("count MST nodes: %w", err)
	}
	if headRev == p.Commit.Rev && stored != p.NodeCount() {
		chk.Problems = append(chk.Problems, fmt.Sprintf("the MST block table holds %d nodes, the tree %d", stored, p.NodeCount()))
	}
	keys, err := r.accounts.Keys(ctx, did)
	if err != nil {
		return nil, err
	}
	pub, err := keys.SigningPublic()
	if err != nil {
		return nil, fmt.Errorf("signing key of %s: %w", did, err)
	}
	if err := p.Commit.VerifySignature(pub); err != nil {
		chk.Problems = append(chk.Problems, fmt.Sprintf("the head commit's signature does not verify with the account's signing key: %v", err))
	}
	const maxListed = 20
	extra := 0
	problem := func(format string, args ...any) {
		if extra < maxListed {
			chk.Problems = append(chk.Problems, fmt.Sprintf(format, args...))
		}
		extra++
	}
	query := func(q string, args ...any) (*sql.Rows, error) { return r.db.R.QueryContext(ctx, q, args...) }
	err = mergeRecords(query, did.String(), p, func(col, rkey, have, inTree string) error {
		path := col + "/" + rkey
		switch {
		case inTree == "":
			problem("record %s is in the record table but not in the repo's tree", path)
		case have == "":
			problem("record %s is in the repo's tree but not in the record table", path)
		case have != inTree:
			problem("record %s: the table has %s, the tree %s", path, have, inTree)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("compare the record table with the tree: %w", err)
	}
	if extra > maxListed {
		chk.Problems = append(chk.Problems, fmt.Sprintf("…and %d more record mismatches", extra-maxListed))
	}
	return chk, nil
}
