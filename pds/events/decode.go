package events

import (
	"bytes"
	"fmt"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atdata"
	cbg "github.com/whyrusleeping/cbor-gen"
)

// Frame is a decoded subscribeRepos frame.
type Frame struct {
	Op   int64  // 1 = message, -1 = error
	Kind string // "#commit", … (messages)

	Commit   *comatproto.SyncSubscribeRepos_Commit
	Sync     *comatproto.SyncSubscribeRepos_Sync
	Identity *comatproto.SyncSubscribeRepos_Identity
	Account  *comatproto.SyncSubscribeRepos_Account
	Info     *comatproto.SyncSubscribeRepos_Info
	Error    string // error frames
	Message  string
}

// Seq returns the frame's seq (0 for info and error frames).
func (f *Frame) Seq() int64 {
	switch {
	case f.Commit != nil:
		return f.Commit.Seq
	case f.Sync != nil:
		return f.Sync.Seq
	case f.Identity != nil:
		return f.Identity.Seq
	case f.Account != nil:
		return f.Account.Seq
	}
	return 0
}

// Decode parses a frame: a DAG-CBOR header and body, nothing after.
func Decode(b []byte) (*Frame, error) {
	r := bytes.NewReader(b)
	var hd cbg.Deferred
	if err := hd.UnmarshalCBOR(r); err != nil {
		return nil, fmt.Errorf("frame header: %w", err)
	}
	h, err := atdata.UnmarshalCBOR(hd.Raw)
	if err != nil {
		return nil, fmt.Errorf("frame header: %w", err)
	}
	f := &Frame{}
	op, _ := h["op"].(int64)
	f.Op = op
	switch op {
	case -1:
		var bd cbg.Deferred
		if err := bd.UnmarshalCBOR(r); err != nil {
			return nil, fmt.Errorf("error frame body: %w", err)
		}
		m, err := atdata.UnmarshalCBOR(bd.Raw)
		if err != nil {
			return nil, fmt.Errorf("error frame body: %w", err)
		}
		f.Error, _ = m["error"].(string)
		f.Message, _ = m["message"].(string)
	case 1:
		f.Kind, _ = h["t"].(string)
		switch f.Kind {
		case KindCommit:
			f.Commit = &comatproto.SyncSubscribeRepos_Commit{}
			err = f.Commit.UnmarshalCBOR(r)
		case KindSync:
			f.Sync = &comatproto.SyncSubscribeRepos_Sync{}
			err = f.Sync.UnmarshalCBOR(r)
		case KindIdentity:
			f.Identity = &comatproto.SyncSubscribeRepos_Identity{}
			err = f.Identity.UnmarshalCBOR(r)
		case KindAccount:
			f.Account = &comatproto.SyncSubscribeRepos_Account{}
			err = f.Account.UnmarshalCBOR(r)
		case KindInfo:
			f.Info = &comatproto.SyncSubscribeRepos_Info{}
			err = f.Info.UnmarshalCBOR(r)
		default:
			return nil, fmt.Errorf("unknown frame type %q", f.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("%s body: %w", f.Kind, err)
		}
	default:
		return nil, fmt.Errorf("unknown frame op %d", op)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d trailing bytes after the frame", r.Len())
	}
	return f, nil
}
