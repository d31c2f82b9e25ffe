package repos

import (
	"sync"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// nsidCacheMax bounds how many distinct valid collection names are
// remembered; a repo uses a handful, so the bound only matters for abuse.
const nsidCacheMax = 1024

// nsidCache remembers collection names that already parsed as NSIDs:
// syntax.ParseNSID runs a regular expression, and a 200-write batch names
// the same collection 200 times. Invalid names are never cached. The zero
// value is ready to use.
type nsidCache struct {
	mu    sync.RWMutex
	valid map[string]syntax.NSID
}

func (c *nsidCache) parse(s string) (syntax.NSID, error) {
	c.mu.RLock()
	n, ok := c.valid[s]
	c.mu.RUnlock()
	if ok {
		return n, nil
	}
	n, err := syntax.ParseNSID(s)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if c.valid == nil {
		c.valid = map[string]syntax.NSID{}
	}
	if len(c.valid) < nsidCacheMax {
		c.valid[s] = n
	}
	c.mu.Unlock()
	return n, nil
}
