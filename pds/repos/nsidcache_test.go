package repos

import (
	"fmt"
	"testing"
)

func TestNSIDCache(t *testing.T) {
	var c nsidCache
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"app.bsky.feed.post", true},
		{"app.bsky.feed.post", true}, // served from the cache
		{"com.example.fooBar", true},
		{"not an nsid", false},
		{"not an nsid", false}, // failures are not cached
		{"app.bsky", false},
		{"", false},
	} {
		n, err := c.parse(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("parse(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if tc.ok && n.String() != tc.in {
			t.Errorf("parse(%q) = %q", tc.in, n)
		}
	}
	if len(c.valid) != 2 {
		t.Errorf("cache holds %d names, want 2", len(c.valid))
	}
	for i := 0; i < 2*nsidCacheMax; i++ {
		if _, err := c.parse(fmt.Sprintf("com.example.c%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.valid) != nsidCacheMax {
		t.Errorf("cache grew to %d, the bound is %d", len(c.valid), nsidCacheMax)
	}
}
