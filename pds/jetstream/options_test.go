package jetstream

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

func TestParseQuery(t *testing.T) {
	now := time.UnixMicro(1_700_000_000_000_000)
	tests := []struct {
		name, query string
		wantErr     bool
		check       func(Options) bool
	}{
		{"empty wants everything", "", false, func(o Options) bool { return o.Collections == nil && o.Cursor == nil && !o.RequireHello }},
		{"wildcard becomes a prefix", "wantedCollections=app.bsky.feed.*", false, func(o Options) bool {
			return len(o.Prefixes) == 1 && o.Prefixes[0] == "app.bsky.feed." && len(o.Collections) == 0
		}},
		{"exact collections", "wantedCollections=app.bsky.feed.post&wantedCollections=app.bsky.graph.follow", false, func(o Options) bool { return len(o.Collections) == 2 }},
		{"bad collection", "wantedCollections=app.bsky..post", true, nil},
		{"bad did", "wantedDids=alice", true, nil},
		{"past cursor kept", "cursor=1600000000000000", false, func(o Options) bool { return o.Cursor != nil && *o.Cursor == 1600000000000000 }},
		{"future cursor means live", "cursor=1800000000000000", false, func(o Options) bool { return o.Cursor == nil }},
		{"bad cursor", "cursor=x", true, nil},
		{"max size", "maxMessageSizeBytes=1000", false, func(o Options) bool { return o.MaxSize == 1000 }},
		{"bad max size is no limit", "maxMessageSizeBytes=-5", false, func(o Options) bool { return o.MaxSize == 0 }},
		{"hello", "requireHello=true", false, func(o Options) bool { return o.RequireHello }},
		{"compress", "compress=true", false, func(o Options) bool { return o.Compress }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			o, err := ParseQuery(q, "", now)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidOptions) {
					t.Fatalf("err = %v, want ErrInvalidOptions", err)
				}
				return
			}
			if err != nil || !tc.check(o) {
				t.Fatalf("ParseQuery(%q) = %+v, %v", tc.query, o, err)
			}
		})
	}
	many := url.Values{}
	for i := range 101 {
		many.Add("wantedCollections", "com.example.c"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	if _, err := ParseQuery(many, "", now); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("101 collections: %v", err)
	}
}

func TestFilterWants(t *testing.T) {
	f, err := parseFilter([]string{"app.bsky.feed.*", "app.bsky.graph.follow"}, []string{"did:plc:alice"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		did, col string
		want     bool
	}{
		{"did:plc:alice", "app.bsky.feed.post", true},
		{"did:plc:alice", "app.bsky.feed.like", true},
		{"did:plc:alice", "app.bsky.graph.follow", true},
		{"did:plc:alice", "app.bsky.graph.block", false},
		{"did:plc:alice", "app.bsky.feedx.post", false},
		{"did:plc:alice", "", true}, // identity/account
		{"did:plc:bob", "app.bsky.feed.post", false},
		{"did:plc:bob", "", false},
	}
	for _, tc := range tests {
		if got := f.Wants(tc.did, tc.col); got != tc.want {
			t.Errorf("Wants(%s, %q) = %v", tc.did, tc.col, got)
		}
	}
}

func TestParseUpdate(t *testing.T) {
	f, ok, err := ParseUpdate([]byte(`{"type":"options_update","payload":{"wantedCollections":["app.bsky.feed.*"],"maxMessageSizeBytes":500}}`))
	if err != nil || !ok || len(f.Prefixes) != 1 || f.MaxSize != 500 {
		t.Fatalf("update: %+v %v %v", f, ok, err)
	}
	if _, ok, err := ParseUpdate([]byte(`{"type":"something_else"}`)); ok || err != nil {
		t.Fatalf("other type: %v %v", ok, err)
	}
	for _, bad := range []string{`nope`, `{"type":"options_update","payload":{"wantedDids":["x"]}}`, `{"type":"options_update","payload":[1]}`} {
		if _, _, err := ParseUpdate([]byte(bad)); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
