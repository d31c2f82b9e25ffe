package firehose_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/actorrepo"
	"github.com/hearth-pds/hearth/pds/firehose"
	"github.com/hearth-pds/hearth/pds/repos"
	"github.com/hearth-pds/hearth/pds/xrpc"
)

// BenchmarkReplayFromLog: a subscriber with cursor=0 reads every event from
// SQLite (a ring of 16 keeps the replay off the in-memory path).
func BenchmarkReplayFromLog(b *testing.B) {
	p := testpds.StartWithOptions(b, nil, xrpc.Options{Firehose: firehose.Config{RingSize: 16}})
	a := p.CreateAccount(b, "bench.test")
	const n = 4000
	for i := 0; i < n; i++ {
		if _, err := p.Engine.Repos.ApplyWrites(ctx, syntax.DID(a.DID), []repos.Write{{Action: actorrepo.Create, Collection: "app.bsky.feed.post",
			Record: map[string]any{"text": fmt.Sprint(i), "createdAt": "2026-11-22T10:00:00Z"}}}, repos.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	last, _ := p.Engine.Events.LastSeq(ctx)
	u := strings.Replace(p.URL, "http://", "ws://", 1) + "/xrpc/com.atproto.sync.subscribeRepos?cursor=0"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		conn, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := conn.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
			b.Fatal(err)
		}
		for got := int64(0); got < last; got++ {
			if _, _, err := conn.ReadMessage(); err != nil {
				b.Fatal(err)
			}
		}
		_ = conn.Close() // every frame was read; nothing to report
	}
	b.ReportMetric(float64(last)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
