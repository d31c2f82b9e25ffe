package repos

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/bluesky-social/indigo/atproto/atdata"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/store"
)

// postCollection is the collection whose lost records are listed by text.
const postCollection = "app.bsky.feed.post"

// MaxLostPosts bounds ImportLoss.Posts: the newest posts an import would
// lose, for a person to recognise.
const MaxLostPosts = 10

// ImportLoss is what replacing a repo with a CAR would lose: the records
// the repo holds now that are absent from the CAR or hold something else
// in it. It is measured against one head (Head), so a confirmation given
// after seeing it covers exactly this loss and nothing written later.
type ImportLoss struct {
	Head    string // the current head commit's CID
	Rev     string // its rev
	CARRev  string // the CAR's rev
	Older   bool   // the CAR's rev is lower than the current head's
	Missing int    // records present now and absent from the CAR
	Changed int    // records present in both with different content
	// Collections counts Missing and Changed per collection, by name.
	Collections []LostCount
	// Posts are the newest (by record key, a TID) of the posts that would
	// be lost or changed, at most MaxLostPosts; PostsLost counts them all.
	Posts     []LostPost
	PostsLost int
}

// Records is the number of records the import would lose or change.
func (l *ImportLoss) Records() int { return l.Missing + l.Changed }

// LostCount is one collection's share of an ImportLoss.
type LostCount struct {
	Collection string
	Missing    int
	Changed    int
}

// LostPost is a post that exists now and is absent (or different) in the
// CAR.
type LostPost struct {
	RKey      string
	Text      string
	CreatedAt string
	Changed   bool // present in the CAR with other content
}

// LossError is Import's refusal to lose records that were not confirmed
// (see ImportGuarded).
type LossError struct{ Loss *ImportLoss }

func (e *LossError) Error() string {
	n := e.Loss.Records()
	what := fmt.Sprintf("%d records", n)
	if n == 1 {
		what = "1 record"
	}
	return fmt.Sprintf("importing this CAR would lose %s that your repository holds now (%s); nothing was imported: look at what would be lost and confirm to replace it",
		what, e.Loss.summary())
}

// Is makes a LossError an errs.ErrInvalidRequest for callers that only map
// kinds.
func (e *LossError) Is(target error) bool { return target == errs.ErrInvalidRequest }

func (l *ImportLoss) summary() string {
	parts := make([]string, 0, len(l.Collections))
	for _, c := range l.Collections {
		parts = append(parts, fmt.Sprintf("%d in %s", c.Missing+c.Changed, c.Collection))
	}
	return strings.Join(parts, ", ")
}

// ImportLoss compares did's current repo with a parsed CAR: what importing
// it would lose. Nothing is written.
func (r *Repos) ImportLoss(ctx context.Context, did syntax.DID, p *ParsedCAR) (*ImportLoss, error) {
	if _, err := r.accounts.Get(ctx, did); err != nil {
		return nil, err
	}
	var loss *ImportLoss
	err := r.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		loss, err = importLoss(tx, did, p)
		return err
	})
	return loss, err
}

// importLoss reads the head and the record index in one snapshot (tx) and
// compares them with the CAR.
func importLoss(tx *store.Tx, did syntax.DID, p *ParsedCAR) (*ImportLoss, error) {
	l := &ImportLoss{CARRev: p.Commit.Rev}
	if err := tx.QueryRow("SELECT commit_cid, rev FROM repo_root WHERE did = ?", did.String()).Scan(&l.Head, &l.Rev); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, errs.RepoNotFound(did.String())
		}
		return nil, fmt.Errorf("read repo head: %w", err)
	}
	l.Older = p.Commit.Rev < l.Rev
	counts := map[string]*LostCount{}
	var posts []LostPost
	err := mergeRecords(tx.Query, did.String(), p, func(col, rkey, have, inCAR string) error {
		if have == "" || have == inCAR {
			return nil
		}
		changed := inCAR != ""
		c := counts[col]
		if c == nil {
			c = &LostCount{Collection: col}
			counts[col] = c
		}
		if changed {
			c.Changed++
			l.Changed++
		} else {
			c.Missing++
			l.Missing++
		}
		if col == postCollection {
			posts = append(posts, LostPost{RKey: rkey, Changed: changed})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, c := range counts {
		l.Collections = append(l.Collections, *c)
	}
	sort.Slice(l.Collections, func(i, j int) bool { return l.Collections[i].Collection < l.Collections[j].Collection })
	l.PostsLost = len(posts)
	sort.Slice(posts, func(i, j int) bool { return posts[i].RKey > posts[j].RKey })
	if len(posts) > MaxLostPosts {
		posts = posts[:MaxLostPosts]
	}
	for i := range posts {
		var b []byte
		if err := tx.QueryRow("SELECT bytes FROM record WHERE did = ? AND collection = ? AND rkey = ?",
			did.String(), postCollection, posts[i].RKey).Scan(&b); err != nil {
			return nil, fmt.Errorf("read post %s: %w", posts[i].RKey, err)
		}
		posts[i].Text, posts[i].CreatedAt = postText(b)
	}
	l.Posts = posts
	return l, nil
}

// postText reads a post's text and createdAt ("" when the stored record
// does not decode or has none: the count still says it is lost).
func postText(b []byte) (text, createdAt string) {
	v, err := atdata.UnmarshalCBOR(b)
	if err != nil {
		return "", ""
	}
	text, _ = v["text"].(string)
	createdAt, _ = v["createdAt"].(string)
	return text, createdAt
}
