package lexval

import (
	"errors"
	"testing"
)

// Record keys follow the key type of the collection's Lexicon; unknown
// collections take any key.
func TestCheckRecordKey(t *testing.T) {
	v := newValidator(t)
	for _, tc := range []struct {
		collection, rkey string
		ok               bool
	}{
		{"app.bsky.feed.post", "3kabcdefghijk", true},
		{"app.bsky.feed.post", "hello", false},
		{"app.bsky.feed.post", "self", false},
		{"app.bsky.feed.like", "3kabcdefghij", false}, // 12 characters: not a TID
		{"app.bsky.actor.profile", "self", true},
		{"app.bsky.actor.profile", "3kabcdefghijk", false},
		{"app.bsky.actor.profile", "Self", false},
		{"com.atproto.lexicon.schema", "com.example.thing", true},
		{"com.atproto.lexicon.schema", "3kabcdefghijk", false},
		{"app.bsky.feed.generator", "my-feed", true},
		{"com.example.unknown", "anything-at-all", true},
		{"com.example.unknown", "self", true},
		{"app.bsky.feed.defs", "whatever", true}, // not a record type: other checks refuse it
	} {
		err := v.CheckRecordKey(tc.collection, tc.rkey)
		if (err == nil) != tc.ok {
			t.Errorf("%s/%s: err = %v, want ok=%v", tc.collection, tc.rkey, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s/%s: %v does not match ErrInvalidRecord", tc.collection, tc.rkey, err)
		}
	}
}
