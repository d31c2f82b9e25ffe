package repos

import (
	"container/list"
	"sync"

	"github.com/ipfs/go-cid"
)

// nodeCache keeps recently used encoded MST nodes, by CID, within a byte
// budget (least recently used out first). Nodes are immutable and named by
// their hash, so an entry never goes stale; it only saves a read.
type nodeCache struct {
	mu    sync.Mutex
	max   int
	bytes int
	ll    *list.List
	items map[cid.Cid]*list.Element
}

type cachedNode struct {
	c cid.Cid
	b []byte
}

// nodeOverhead approximates the memory of one entry beyond its bytes (map
// slot, list element, CID).
const nodeOverhead = 160

func newNodeCache(maxBytes int) *nodeCache {
	return &nodeCache{max: maxBytes, ll: list.New(), items: map[cid.Cid]*list.Element{}}
}

func (c *nodeCache) get(k cid.Cid) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.ll.MoveToFront(e)
	return e.Value.(*cachedNode).b, true
}

func (c *nodeCache) put(k cid.Cid, b []byte) {
	size := len(b) + nodeOverhead
	if size > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.ll.MoveToFront(e)
		return
	}
	c.items[k] = c.ll.PushFront(&cachedNode{c: k, b: b})
	c.bytes += size
	for c.bytes > c.max {
		last := c.ll.Back()
		n := last.Value.(*cachedNode)
		c.ll.Remove(last)
		delete(c.items, n.c)
		c.bytes -= len(n.b) + nodeOverhead
	}
}

// size is the bytes the cache accounts for now.
func (c *nodeCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
