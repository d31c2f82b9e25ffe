package pds

import (
	"context"
	"fmt"
	"strings"

	"github.com/hearth-pds/hearth/pds/blobs"
)

// VerifyReport is what Engine.Verify found. OK is true when nothing is
// wrong.
type VerifyReport struct {
	OK       bool           `json:"ok"`
	Database []string       `json:"database_problems"`
	Accounts []AccountCheck `json:"accounts"`
	Events   EventsCheck    `json:"events"`
}

// AccountCheck is the verdict on one account's repo and blobs.
type AccountCheck struct {
	DID          string          `json:"did"`
	Handle       string          `json:"handle"`
	Rev          string          `json:"rev"`
	Commit       string          `json:"commit"`
	Records      int             `json:"records"`
	Blobs        int             `json:"blobs"`
	RepoProblems []string        `json:"repo_problems"`
	Damaged      []blobs.Damaged `json:"damaged_blobs"`
}

// EventsCheck is the verdict on the event log.
type EventsCheck struct {
	First int64    `json:"first_seq"`
	Last  int64    `json:"last_seq"`
	Count int64    `json:"count"`
	Gaps  []string `json:"gaps"`
}

// Verify checks everything the data folder holds: the database's
// integrity, every repo (commit signature, MST, record blocks against the
// record table), every blob's hash, and the event log's continuity. It
// reads everything once, so it takes time in proportion to the data;
// progress, if not nil, hears what it is checking.
func (e *Engine) Verify(ctx context.Context, progress func(step string)) (*VerifyReport, error) {
	if progress == nil {
		progress = func(string) {}
	}
	rep := &VerifyReport{}
	progress("database")
	problems, err := e.db.IntegrityCheck(ctx)
	if err != nil {
		return nil, err
	}
	rep.Database = problems
	accs, err := e.Accounts.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range accs {
		progress("repo of " + a.Handle.String())
		chk, err := e.Repos.Verify(ctx, a.DID)
		if err != nil {
			return nil, fmt.Errorf("verify the repo of %s: %w", a.DID, err)
		}
		ac := AccountCheck{DID: a.DID.String(), Handle: a.Handle.String(), Rev: chk.Rev, Commit: chk.Commit, Records: chk.Records, RepoProblems: chk.Problems}
		progress("blobs of " + a.Handle.String())
		ac.Blobs, ac.Damaged, err = e.Blobs.Verify(ctx, a.DID)
		if err != nil {
			return nil, fmt.Errorf("verify the blobs of %s: %w", a.DID, err)
		}
		rep.Accounts = append(rep.Accounts, ac)
	}
	progress("event log")
	cont, err := e.Events.CheckContinuity(ctx)
	if err != nil {
		return nil, err
	}
	rep.Events = EventsCheck{First: cont.First, Last: cont.Last, Count: cont.Count, Gaps: cont.Gaps}
	rep.OK = len(rep.Database) == 0 && len(rep.Events.Gaps) == 0
	for _, a := range rep.Accounts {
		rep.OK = rep.OK && len(a.RepoProblems) == 0 && len(a.Damaged) == 0
	}
	return rep, nil
}

// String renders the report for people, one finding per line.
func (r *VerifyReport) String() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	if len(r.Database) == 0 {
		line("database: ok")
	} else {
		line("database: %d problem(s)", len(r.Database))
		for _, p := range r.Database {
			line("  - %s", p)
		}
	}
	for _, a := range r.Accounts {
		state := "ok"
		if len(a.RepoProblems)+len(a.Damaged) > 0 {
			state = "PROBLEMS"
		}
		line("account %s (%s): %s — rev %s, %d records, %d blobs", a.Handle, a.DID, state, a.Rev, a.Records, a.Blobs)
		for _, p := range a.RepoProblems {
			line("  - repo: %s", p)
		}
		for _, d := range a.Damaged {
			line("  - blob %s: %s", d.CID, d.Reason)
		}
	}
	if len(r.Events.Gaps) == 0 {
		line("event log: ok — %d events, seq %d to %d", r.Events.Count, r.Events.First, r.Events.Last)
	} else {
		line("event log: gaps in seq %d to %d", r.Events.First, r.Events.Last)
		for _, g := range r.Events.Gaps {
			line("  - %s", g)
		}
	}
	if r.OK {
		line("everything verifies")
	} else {
		line("problems found: restore the damaged parts from a backup")
	}
	return b.String()
}
