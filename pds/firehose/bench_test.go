package firehose_test

import (
	"fmt"
	"os"
	"strconv"
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

// BenchmarkStalledSubscribersMemory: heap growth with 300 subscribers that
// ask for cursor=0 on a 2000-event log and never read (caps lifted to let
// all 300 in; the default MaxSubscribers is 200). Run with -benchtime=1x.
func BenchmarkStalledSubscribersMemory(b *testing.B) {
	const subs = 300
	p := testpds.StartWithOptions(b, nil, xrpc.Options{Firehose: firehose.Config{
		MaxSubscribers: subs, MaxSubscribersPerAddr: subs, WriteTimeout: time.Minute}})
	hub := p.Server.Firehose()
	a := p.CreateAccount(b, "bench.test")
	seedEvents(b, p, a.DID, 2000, 2000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		base, baseSock := heapInUse(), tcpMemPages()
		conns := make([]*websocket.Conn, subs)
		for j := range conns {
			c, resp, err := stalledDialer.Dial(subscribeURL(p, "0"), nil)
			if err != nil {
				b.Fatalf("dial: %v (%v)", err, resp)
			}
			conns[j] = c
		}
		for hub.Stats().Subscribers != subs {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Second)
		grown := float64(int64(heapInUse()) - int64(base))
		st := hub.Stats()
		b.ReportMetric(grown/(1<<20), "heap-MiB")
		b.ReportMetric(grown/subs/(1<<10), "KiB/subscriber")
		b.ReportMetric(float64(st.PeakBuffered)/(1<<10), "peak-frames-KiB/subscriber")
		b.ReportMetric(float64(st.Lagging), "stalled")
		if baseSock >= 0 {
			// System-wide (other processes' sockets count too): indicative.
			b.ReportMetric(float64(tcpMemPages()-baseSock)*float64(os.Getpagesize())/(1<<20), "kernel-tcp-MiB")
		}
		for _, c := range conns {
			_ = c.Close() // the next round starts afresh
		}
		for hub.Stats().Connections != 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// tcpMemPages is the kernel's TCP buffer memory in pages (Linux's
// /proc/net/sockstat "TCP: ... mem N"), or -1 where unknown.
func tcpMemPages() int64 {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "TCP:" {
			continue
		}
		for i := 1; i+1 < len(f); i++ {
			if f[i] == "mem" {
				n, err := strconv.ParseInt(f[i+1], 10, 64)
				if err != nil {
					return -1
				}
				return n
			}
		}
	}
	return -1
}
