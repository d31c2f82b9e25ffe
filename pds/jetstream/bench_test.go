package jetstream_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/eventlog"
	"github.com/hearth-pds/hearth/pds/jetstream"
)

// BenchmarkMessages converts stored #commit events (one post each, as an
// app's typical write) to Jetstream JSON: the per-event CPU cost of
// /subscribe on top of the firehose's. Reports messages/s.
func BenchmarkMessages(b *testing.B) {
	p := testpds.Start(b, nil)
	a := p.CreateAccount(b, "bench.test")
	c := p.Login(b, a)
	for i := range 200 {
		rec := map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprintf("post number %d, with some words in it", i), "createdAt": syntax.DatetimeNow().String()}
		if err := c.Post(context.Background(), "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post", "record": rec}, nil); err != nil {
			b.Fatal(err)
		}
	}
	all, err := p.Engine.Events.Range(context.Background(), 0, 1000, 0, "")
	if err != nil {
		b.Fatal(err)
	}
	var commits []eventlog.Event
	for _, ev := range all {
		if ev.Kind == "#commit" {
			commits = append(commits, ev)
		}
	}
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		msgs, err := jetstream.Messages(commits[i%len(commits)])
		if err != nil {
			b.Fatal(err)
		}
		n += len(msgs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}
