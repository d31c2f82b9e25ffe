package repos_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/internal/testpds"
)

// BenchmarkOwnerWriteUnderExportFlood: the owner's createRecord latency
// (p50, p99) while 12 getRepo downloads of a 3000-record repo are stalled
// and more keep arriving. Run with -benchtime=200x or so.
func BenchmarkOwnerWriteUnderExportFlood(b *testing.B) {
	p := testpds.Start(b, nil)
	a := p.CreateAccount(b, "alice.test")
	seedRecords(b, p, syntax.DID(a.DID), 3000, 2000)
	owner := p.Login(b, a)
	client := stallingClient(b)
	fctx, cancel := context.WithCancel(ctx)
	flood := make(chan struct{})
	// 12 downloaders that never read; each starts a new download when
	// its last one was refused (429) or ended.
	for range 12 {
		go func() {
			for fctx.Err() == nil {
				req, _ := http.NewRequestWithContext(fctx, http.MethodGet, p.URL+"/xrpc/com.atproto.sync.getRepo?did="+a.DID, nil)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				if resp.StatusCode == http.StatusOK {
					<-fctx.Done() // stalled until the benchmark ends
				}
				_ = resp.Body.Close()
			}
			flood <- struct{}{}
		}()
	}
	b.Cleanup(func() {
		cancel()
		for range 12 {
			<-flood
		}
	})
	time.Sleep(500 * time.Millisecond)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := owner.Post(ctx, "com.atproto.repo.createRecord", map[string]any{"repo": a.DID, "collection": "com.example.blob",
			"record": map[string]any{"data": "during the flood", "i": i}}, nil); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(p.Engine.Repos.OpenExports()), "open-exports")
}
