package jetstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Jetstream's limits on one subscriber's filters.
const (
	maxWantedDIDs        = 10_000
	maxWantedCollections = 100
)

// ErrInvalidOptions is the kind of every bad query or options_update.
var ErrInvalidOptions = errors.New("invalid subscriber options")

// Filter is what a subscriber wants. The zero Filter wants everything.
type Filter struct {
	// Collections is nil for every collection; else the exact NSIDs
	// wanted, and Prefixes the wildcards' prefixes ("app.bsky.feed." for
	// "app.bsky.feed.*").
	Collections map[string]struct{}
	Prefixes    []string
	// DIDs is empty for every account.
	DIDs map[string]struct{}
	// MaxSize drops messages longer than this many bytes (0 = no limit).
	MaxSize int
}

// Options are a subscriber's query parameters.
type Options struct {
	Filter
	Cursor       *int64 // unix microseconds; nil = live
	RequireHello bool   // wait for an options_update before sending
	Compress     bool   // zstd was asked for
}

// ParseQuery reads /subscribe's query parameters as Jetstream does.
// now is the time a cursor in the future is compared with (such a cursor
// means live, as in Jetstream).
func ParseQuery(q url.Values, socketEncoding string, now time.Time) (Options, error) {
	var o Options
	f, err := parseFilter(q["wantedCollections"], q["wantedDids"], parseSize(q.Get("maxMessageSizeBytes")))
	if err != nil {
		return o, err
	}
	o.Filter = f
	o.RequireHello = q.Get("requireHello") == "true"
	o.Compress = strings.Contains(socketEncoding, "zstd") || q.Get("compress") == "true"
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil {
			return o, fmt.Errorf("%w: invalid cursor: %s", ErrInvalidOptions, c)
		}
		if n <= now.UnixMicro() {
			o.Cursor = &n
		}
	}
	return o, nil
}

// parseSize reads maxMessageSizeBytes: anything not a non-negative integer
// means no limit, as in Jetstream.
func parseSize(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1<<32-1 {
		return 0
	}
	return n
}

func parseFilter(collections, dids []string, maxSize int) (Filter, error) {
	f := Filter{MaxSize: maxSize}
	if len(collections) > 0 {
		f.Collections = map[string]struct{}{}
		for _, c := range collections {
			if p, ok := strings.CutSuffix(c, "*"); ok && strings.HasSuffix(c, ".*") {
				f.Prefixes = append(f.Prefixes, p)
				continue
			}
			nsid, err := syntax.ParseNSID(c)
			if err != nil {
				return f, fmt.Errorf("%w: invalid collection: %s", ErrInvalidOptions, c)
			}
			f.Collections[nsid.String()] = struct{}{}
		}
		if len(f.Prefixes)+len(f.Collections) > maxWantedCollections {
			return f, fmt.Errorf("%w: too many wanted collections", ErrInvalidOptions)
		}
	}
	if len(dids) > 0 {
		f.DIDs = map[string]struct{}{}
		for _, d := range dids {
			did, err := syntax.ParseDID(d)
			if err != nil {
				return f, fmt.Errorf("%w: invalid did: %s", ErrInvalidOptions, d)
			}
			f.DIDs[did.String()] = struct{}{}
		}
		if len(f.DIDs) > maxWantedDIDs {
			return f, fmt.Errorf("%w: too many wanted DIDs", ErrInvalidOptions)
		}
	}
	return f, nil
}

// subscriberMessage is what a subscriber may send: {"type": "options_update",
// "payload": {...}}.
type subscriberMessage struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

type optionsUpdate struct {
	WantedCollections   []string `json:"wantedCollections"`
	WantedDIDs          []string `json:"wantedDids"`
	MaxMessageSizeBytes int      `json:"maxMessageSizeBytes"`
}

// ParseUpdate reads a subscriber's text message. ok is false for a message
// of another type (ignored, as in Jetstream); an options_update replaces the
// whole filter.
func ParseUpdate(msg []byte) (f Filter, ok bool, err error) {
	var m subscriberMessage
	if err := json.Unmarshal(msg, &m); err != nil {
		return f, false, fmt.Errorf("%w: the message is not JSON", ErrInvalidOptions)
	}
	if m.Type != "options_update" {
		return f, false, nil
	}
	var u optionsUpdate
	if err := json.Unmarshal(m.Payload, &u); err != nil {
		return f, false, fmt.Errorf("%w: the options_update payload is not valid", ErrInvalidOptions)
	}
	f, err = parseFilter(u.WantedCollections, u.WantedDIDs, max(u.MaxMessageSizeBytes, 0))
	return f, err == nil, err
}

// Wants reports whether the filter passes a message about did in
// collection ("" for identity and account messages, which pass any
// collection filter, as in Jetstream).
func (f *Filter) Wants(did, collection string) bool {
	if len(f.DIDs) > 0 {
		if _, ok := f.DIDs[did]; !ok {
			return false
		}
	}
	if f.Collections == nil || collection == "" {
		return true
	}
	if _, ok := f.Collections[collection]; ok {
		return true
	}
	for _, p := range f.Prefixes {
		if strings.HasPrefix(collection, p) {
			return true
		}
	}
	return false
}
