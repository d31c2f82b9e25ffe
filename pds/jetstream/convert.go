package jetstream

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atdata"
	car "github.com/ipld/go-car"
	carutil "github.com/ipld/go-car/util"

	"github.com/hearth-pds/hearth/pds/eventlog"
	"github.com/hearth-pds/hearth/pds/events"
)

// event is Jetstream's message, field for field and in its order.
type event struct {
	DID      string                                  `json:"did"`
	TimeUS   int64                                   `json:"time_us"`
	Kind     string                                  `json:"kind,omitempty"`
	Commit   *commit                                 `json:"commit,omitempty"`
	Account  *comatproto.SyncSubscribeRepos_Account  `json:"account,omitempty"`
	Identity *comatproto.SyncSubscribeRepos_Identity `json:"identity,omitempty"`
}

type commit struct {
	Rev        string          `json:"rev,omitempty"`
	Operation  string          `json:"operation,omitempty"`
	Collection string          `json:"collection,omitempty"`
	RKey       string          `json:"rkey,omitempty"`
	Record     json.RawMessage `json:"record,omitempty"`
	CID        string          `json:"cid,omitempty"`
}

// Message is one JSON message of the stream and what filters look at.
type Message struct {
	TimeUS     int64
	DID        string
	Collection string // "" for identity and account messages
	JSON       []byte
}

// Messages converts one event of the log to the messages Jetstream would
// send for it: one per op of a #commit (the i-th at TimeUS+i), one for an
// #identity or #account, none for #sync or a tooBig commit. A malformed op
// (missing record block, CID mismatch) is skipped, as Jetstream skips it.
func Messages(ev eventlog.Event) ([]Message, error) {
	f, err := events.Decode(ev.Frame)
	if err != nil {
		return nil, fmt.Errorf("decode event %d: %w", ev.Seq, err)
	}
	one := func(e *event) ([]Message, error) {
		e.TimeUS = ev.TimeUS
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encode event %d: %w", ev.Seq, err)
		}
		return []Message{{TimeUS: e.TimeUS, DID: e.DID, JSON: b}}, nil
	}
	switch {
	case f.Identity != nil:
		return one(&event{DID: f.Identity.Did, Kind: "identity", Identity: f.Identity})
	case f.Account != nil:
		return one(&event{DID: f.Account.Did, Kind: "account", Account: f.Account})
	case f.Commit != nil && !f.Commit.TooBig:
		return commitMessages(ev, f.Commit)
	}
	return nil, nil
}

func commitMessages(ev eventlog.Event, c *comatproto.SyncSubscribeRepos_Commit) ([]Message, error) {
	blocks, err := carBlocks(c.Blocks)
	if err != nil {
		return nil, fmt.Errorf("event %d: %w", ev.Seq, err)
	}
	out := make([]Message, 0, len(c.Ops))
	for i, op := range c.Ops {
		collection, rkey, ok := strings.Cut(op.Path, "/")
		if !ok {
			continue
		}
		cm := &commit{Rev: c.Rev, Operation: op.Action, Collection: collection, RKey: rkey}
		switch op.Action {
		case "create", "update":
			if op.Cid == nil {
				continue
			}
			data, ok := blocks[op.Cid.String()]
			if !ok {
				continue
			}
			rec, err := atdata.UnmarshalCBOR(data)
			if err != nil {
				continue
			}
			if cm.Record, err = json.Marshal(rec); err != nil {
				continue
			}
			cm.CID = op.Cid.String()
		case "delete":
		default:
			continue
		}
		e := &event{DID: c.Repo, TimeUS: ev.TimeUS + int64(i), Kind: "commit", Commit: cm}
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encode event %d op %d: %w", ev.Seq, i, err)
		}
		out = append(out, Message{TimeUS: e.TimeUS, DID: c.Repo, Collection: collection, JSON: b})
	}
	return out, nil
}

// carBlocks indexes a commit's CAR slice by CID. The frames are Hearth's
// own, stored after their blocks were hashed, so they are not hashed again
// here (that, and a large read buffer, cost more than the rest of the
// conversion).
func carBlocks(data []byte) (map[string][]byte, error) {
	br := bufio.NewReaderSize(bytes.NewReader(data), 4096)
	if _, err := car.ReadHeader(br); err != nil {
		return nil, fmt.Errorf("read the commit's CAR header: %w", err)
	}
	out := map[string][]byte{}
	for {
		if _, err := br.Peek(1); errors.Is(err, io.EOF) {
			return out, nil
		}
		c, b, err := carutil.ReadNode(br)
		if err != nil {
			return nil, fmt.Errorf("read the commit's CAR: %w", err)
		}
		out[c.String()] = b
	}
}
