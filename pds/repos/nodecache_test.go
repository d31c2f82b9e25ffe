package repos

import (
	"fmt"
	"testing"

	"github.com/hearth-pds/hearth/pds/actorrepo"
)

func TestNodeCacheStaysWithinBudget(t *testing.T) {
	c := newNodeCache(10 * (100 + nodeOverhead))
	var blocks []actorrepo.Block
	for i := 0; i < 50; i++ {
		b, err := actorrepo.EncodeRecord(map[string]any{"$type": "x.y.z", "n": fmt.Sprintf("%090d", i)})
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
		c.put(b.CID, b.Data)
		if c.size() > c.max {
			t.Fatalf("cache holds %d bytes, budget %d", c.size(), c.max)
		}
	}
	if _, ok := c.get(blocks[0].CID); ok {
		t.Fatal("the oldest node was kept past the budget")
	}
	last := blocks[len(blocks)-1]
	if b, ok := c.get(last.CID); !ok || string(b) != string(last.Data) {
		t.Fatal("the newest node is not in the cache")
	}
}
