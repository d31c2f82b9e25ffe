package xrpc_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hearth-pds/hearth/internal/testpds"
)

// BenchmarkSubscribeReplay replays 2,000 posts (ten 200-op commits) through
// /subscribe from cursor 0 over loopback, as a Jetstream client reads them:
// the read path's throughput (log pages, conversion to JSON, websocket).
// Reports messages/s.
func BenchmarkSubscribeReplay(b *testing.B) {
	p := testpds.Start(b, nil)
	a := p.CreateAccount(b, "bench.test")
	c := p.Login(b, a)
	for batch := range 10 {
		var writes []any
		for i := range 200 {
			writes = append(writes, map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post",
				"value": map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprintf("post %d of batch %d", i, batch), "createdAt": "2026-01-01T00:00:00.000Z"}})
		}
		if err := c.Post(ctx, "com.atproto.repo.applyWrites", map[string]any{"repo": a.DID, "writes": writes}, nil); err != nil {
			b.Fatal(err)
		}
	}
	u := strings.Replace(p.URL, "http://", "ws://", 1) + "/subscribe?wantedCollections=app.bsky.feed.post&cursor=0"
	b.ResetTimer()
	total := 0
	for i := 0; i < b.N; i++ {
		ws, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < 2000; n++ {
			if err := ws.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				b.Fatal(err)
			}
			if _, msg, err := ws.ReadMessage(); err != nil {
				b.Fatal(err)
			} else if !strings.Contains(string(msg), `"kind":"commit"`) {
				n-- // identity and account messages pass the filter too
			}
		}
		total += 2000
		_ = ws.Close()
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "msgs/s")
}
