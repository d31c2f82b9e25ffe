package eventlog

import (
	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/events"
)

// Event is one entry of the log, its frame already encoded.
type Event struct {
	Seq  int64
	DID  string
	Kind string // events.KindCommit, KindSync, KindIdentity or KindAccount
	Rev  string // the repo rev for #commit and #sync events ("" otherwise)
	Time string
	// TimeUS is the event's time in unix microseconds, strictly greater
	// than every earlier event's TimeUS+Span-1 (see timeus.go): the
	// Jetstream-compatible stream's time_us and cursor.
	TimeUS int64
	// Frame is the encoded firehose frame; readers must not modify it.
	Frame []byte
}

// Entry is an event about to be appended: everything but its seq and time,
// which Append assigns.
type Entry struct {
	DID  syntax.DID
	Kind string
	Rev  string
	body func(seq int64, time string) (events.Body, error)
}

// Commit is the #commit event of a signed commit.
func Commit(did syntax.DID, res *actorrepo.CommitResult) Entry {
	return Entry{DID: did, Kind: events.KindCommit, Rev: res.Head.Rev(), body: func(seq int64, time string) (events.Body, error) {
		return events.CommitBody(did.String(), seq, time, res)
	}}
}

// Sync is the #sync event announcing a repo's current commit (after an
// import, or when a migrated account is activated).
func Sync(did syntax.DID, head actorrepo.Head) Entry {
	return Entry{DID: did, Kind: events.KindSync, Rev: head.Rev(), body: func(seq int64, time string) (events.Body, error) {
		return events.SyncBody(did.String(), seq, time, head)
	}}
}

// Identity is the #identity event of a handle or DID document change.
func Identity(did syntax.DID, handle syntax.Handle) Entry {
	return Entry{DID: did, Kind: events.KindIdentity, body: func(seq int64, time string) (events.Body, error) {
		h := handle.String()
		return &comatproto.SyncSubscribeRepos_Identity{Did: did.String(), Handle: &h, Seq: seq, Time: time}, nil
	}}
}

// Account is the #account event of a status change. status is "" for an
// active account, else why it is not ("deactivated", "deleted").
func Account(did syntax.DID, active bool, status string) Entry {
	return Entry{DID: did, Kind: events.KindAccount, body: func(seq int64, time string) (events.Body, error) {
		body := &comatproto.SyncSubscribeRepos_Account{Did: did.String(), Active: active, Seq: seq, Time: time}
		if status != "" {
			s := status
			body.Status = &s
		}
		return body, nil
	}}
}
