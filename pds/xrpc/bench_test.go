package xrpc_test

import (
	"fmt"
	"testing"

	"github.com/hearth-pds/hearth/internal/testpds"
)

// BenchmarkCreateRecordHTTP: sequential createRecord over HTTP (profile with
// -cpuprofile; make bench has the end-to-end numbers).
func BenchmarkCreateRecordHTTP(b *testing.B) {
	p := testpds.Start(b, nil)
	a := p.CreateAccount(b, "bench.test")
	c := p.Login(b, a)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "app.bsky.feed.post",
			"record": map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprint("post ", i), "createdAt": "2026-11-22T10:00:00Z"}}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyWrites200HTTP: applyWrites batches of 200 creates.
func BenchmarkApplyWrites200HTTP(b *testing.B) {
	p := testpds.Start(b, nil)
	a := p.CreateAccount(b, "bench.test")
	c := p.Login(b, a)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		writes := make([]any, 200)
		for j := range writes {
			writes[j] = map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post",
				"value": map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprint("post ", i, " ", j), "createdAt": "2026-11-22T10:00:00Z"}}
		}
		if err := c.Post(ctx, "com.atproto.repo.applyWrites", map[string]any{"repo": a.DID, "writes": writes}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*200)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkGetRepo10k: export of a 10k-record repo over HTTP.
func BenchmarkGetRepo10k(b *testing.B) {
	p := testpds.Start(b, nil)
	a := p.CreateAccount(b, "bench.test")
	c := p.Login(b, a)
	for i := 0; i < 50; i++ {
		writes := make([]any, 200)
		for j := range writes {
			writes[j] = map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post",
				"value": map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprint("post ", i, " ", j), "createdAt": "2026-11-22T10:00:00Z"}}
		}
		if err := c.Post(ctx, "com.atproto.repo.applyWrites", map[string]any{"repo": a.DID, "writes": writes}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		n = len(p.GetRepo(b, a.DID, ""))
	}
	b.ReportMetric(float64(n*b.N)/(1<<20)/b.Elapsed().Seconds(), "MB/s")
}
