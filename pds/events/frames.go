package events

import (
	"bytes"
	"fmt"
	"io"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atdata"
	lexutil "github.com/bluesky-social/indigo/lex/util"

	"github.com/hearth-pds/hearth/pds/actorrepo"
)

// Kinds of events.
const (
	KindCommit   = "#commit"
	KindSync     = "#sync"
	KindIdentity = "#identity"
	KindAccount  = "#account"
	KindInfo     = "#info"
)

// Body is a frame body: any CBOR-encodable event.
type Body interface {
	MarshalCBOR(w io.Writer) error
}

// Encode builds a frame: the header {op:1, t:kind} followed by the body.
func Encode(kind string, body Body) ([]byte, error) {
	h, err := atdata.MarshalCBOR(map[string]any{"op": int64(1), "t": kind})
	if err != nil {
		return nil, fmt.Errorf("encode frame header: %w", err)
	}
	buf := bytes.NewBuffer(h)
	if err := body.MarshalCBOR(buf); err != nil {
		return nil, fmt.Errorf("encode %s frame: %w", kind, err)
	}
	return buf.Bytes(), nil
}

// EncodeError builds an error frame {op:-1} + {error, message}.
func EncodeError(name, message string) ([]byte, error) {
	h, err := atdata.MarshalCBOR(map[string]any{"op": int64(-1)})
	if err != nil {
		return nil, err
	}
	body := map[string]any{"error": name}
	if message != "" {
		body["message"] = message
	}
	b, err := atdata.MarshalCBOR(body)
	if err != nil {
		return nil, err
	}
	return append(h, b...), nil
}

// CARBytes writes blocks as a CAR with the first block's CID as root.
func CARBytes(blocks []actorrepo.Block) ([]byte, error) {
	if len(blocks) == 0 {
		return nil, fmt.Errorf("no blocks")
	}
	buf := new(bytes.Buffer)
	cw, err := actorrepo.NewCARWriter(buf, blocks[0].CID)
	if err != nil {
		return nil, err
	}
	for _, b := range blocks {
		if err := cw.Put(b); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// CommitBody builds the #commit body for a commit result.
func CommitBody(did string, seq int64, time string, res *actorrepo.CommitResult) (*comatproto.SyncSubscribeRepos_Commit, error) {
	car, err := CARBytes(res.Blocks)
	if err != nil {
		return nil, err
	}
	ev := &comatproto.SyncSubscribeRepos_Commit{
		Repo:   did,
		Seq:    seq,
		Rev:    res.Head.Rev(),
		Commit: lexutil.LexLink(res.Head.CID),
		Blocks: car,
		Ops:    make([]*comatproto.SyncSubscribeRepos_RepoOp, 0, len(res.Ops)),
		Blobs:  []lexutil.LexLink{},
		Time:   time,
	}
	if res.Since != "" {
		s := res.Since
		ev.Since = &s
	}
	if res.PrevData != nil {
		l := lexutil.LexLink(*res.PrevData)
		ev.PrevData = &l
	}
	for _, op := range res.Ops {
		rop := &comatproto.SyncSubscribeRepos_RepoOp{Action: string(op.Action), Path: op.Path()}
		if op.CID != nil {
			l := lexutil.LexLink(*op.CID)
			rop.Cid = &l
		}
		if op.Prev != nil {
			l := lexutil.LexLink(*op.Prev)
			rop.Prev = &l
		}
		ev.Ops = append(ev.Ops, rop)
	}
	return ev, nil
}

// SyncBody builds a #sync body carrying just the commit block.
func SyncBody(did string, seq int64, time string, head actorrepo.Head) (*comatproto.SyncSubscribeRepos_Sync, error) {
	car, err := CARBytes([]actorrepo.Block{{CID: head.CID, Data: head.Bytes}})
	if err != nil {
		return nil, err
	}
	return &comatproto.SyncSubscribeRepos_Sync{Did: did, Seq: seq, Rev: head.Rev(), Blocks: car, Time: time}, nil
}
