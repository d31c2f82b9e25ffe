package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/repo/mst"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"

	"github.com/hearth-pds/hearth/pds/actorrepo"
)

// scaleResult is what `hearthbench scale` measures for one repo size.
type scaleResult struct {
	Records          int     `json:"records"`
	CARMB            float64 `json:"car_mb"`
	ImportS          float64 `json:"import_s"`
	ImportPeakRSSMB  float64 `json:"import_peak_rss_mb"`
	ReadyMs          float64 `json:"ready_after_restart_ms"`
	FirstWriteMs     float64 `json:"first_write_after_restart_ms"`
	WritesPerS       float64 `json:"create_record_per_s_after"`
	WriteCPUMs       float64 `json:"create_record_server_cpu_ms"`
	GetRepoMBPerS    float64 `json:"get_repo_mb_per_s"`
	RSSAfterMB       float64 `json:"rss_after_restart_writes_get_repo_mb"`
	DBBytesPerRecord float64 `json:"db_bytes_per_record"`
	VerifiedRecords  int     `json:"verified_records"`
}

// runScale is `hearthbench scale`: for each N it generates a signed CAR of
// N realistic records (posts, likes, follows), imports it into a fresh
// hearthd, restarts it, and times the first write, the next writes, a
// getRepo (whose CAR is verified with indigo) and memory.
func runScale(args []string) error {
	fs := flag.NewFlagSet("scale", flag.ExitOnError)
	var c config
	fs.StringVar(&c.hearthd, "hearthd", "bin/hearthd", "hearthd binary to benchmark")
	fs.StringVar(&c.workDir, "work-dir", "", "directory for data dirs and logs (required)")
	fs.StringVar(&c.pidFile, "pid-file", "", "append the PID of every started hearthd here")
	fs.StringVar(&c.revision, "revision", "", "source revision of hearthd, copied into the output")
	fs.StringVar(&c.plcURL, "plc-url", "http://127.0.0.1:9", "PLC URL given to hearthd (unreachable on purpose)")
	sizes := fs.String("records", "10000,100000,1000000", "repo sizes, comma-separated")
	writes := fs.Int("writes", 1000, "createRecord calls after the restart")
	clients := fs.Int("clients", 16, "concurrent createRecord clients (one account each) in the group-commit figure; 0 skips it")
	concWrites := fs.Int("concurrent-writes", 2000, "createRecord calls in each run of the group-commit figure")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Hour, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.workDir == "" {
		return errors.New("--work-dir is required")
	}
	if abs, err := filepath.Abs(c.hearthd); err == nil {
		c.hearthd = abs
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	b := &bench{cfg: c, ctx: ctx}
	out := map[string]any{"revision": c.revision, "hearthd": c.hearthd, "loadavg_start": loadAvg()}
	var results []scaleResult
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("bad --records entry %q", s)
		}
		r, err := b.scaleOne(n, *writes)
		err = errors.Join(err, b.stopAll())
		b.servers = nil
		if err != nil {
			b.dumpLogs()
			return fmt.Errorf("%d records: %w", n, err)
		}
		results = append(results, *r)
	}
	out["results"] = results
	if *clients > 0 {
		r, err := b.concurrentWriters(*clients, *concWrites)
		err = errors.Join(err, b.stopAll())
		b.servers = nil
		if err != nil {
			b.dumpLogs()
			return fmt.Errorf("concurrent writers: %w", err)
		}
		out["concurrent_writers"] = r
	}
	out["loadavg_end"] = loadAvg()
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func (b *bench) scaleOne(n, writes int) (*scaleResult, error) {
	res := &scaleResult{Records: n}
	name := fmt.Sprintf("scale%d", n)
	s, ss, err := b.freshServer(name)
	if err != nil {
		return nil, err
	}
	logf("scale %d: generating the CAR", n)
	car, err := generateCAR(ss.did, n)
	if err != nil {
		return nil, err
	}
	res.CARMB = round(float64(len(car))/mib, 1)
	logf("scale %d: importing %.1f MB", n, res.CARMB)
	status, d, err := ss.importRepo(b.ctx, car)
	if err != nil {
		return nil, fmt.Errorf("import (HTTP %d): %w", status, err)
	}
	res.ImportS = round(d.Seconds(), 2)
	if st, err := procStatus(s.cmd.Process.Pid); err == nil {
		res.ImportPeakRSSMB = round(float64(st["VmHWM"])/1024, 1)
	}
	if err := s.stop(); err != nil {
		return nil, err
	}

	s, err = b.startServer(s.dir, s.port)
	if err != nil {
		return nil, err
	}
	res.ReadyMs = round(ms(s.ready), 1)
	ss, err = s.login(b.ctx, name+".bench.test", ss.did)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := ss.createRecord(b.ctx, 0); err != nil {
		return nil, err
	}
	res.FirstWriteMs = round(ms(time.Since(t0)), 1)
	cpu0, cpuErr := procCPU(s.cmd.Process.Pid)
	t0 = time.Now()
	for i := 1; i <= writes; i++ {
		if err := ss.createRecord(b.ctx, i); err != nil {
			return nil, err
		}
	}
	res.WritesPerS = round(float64(writes)/time.Since(t0).Seconds(), 1)
	if cpu1, err := procCPU(s.cmd.Process.Pid); err == nil && cpuErr == nil {
		res.WriteCPUMs = round(ms(cpu1-cpu0)/float64(writes), 3)
	}
	got, d, err := s.getRepoDiscard(b.ctx, ss.did)
	if err != nil {
		return nil, err
	}
	res.GetRepoMBPerS = round(float64(got)/mib/d.Seconds(), 1)
	if st, err := procStatus(s.cmd.Process.Pid); err == nil {
		res.RSSAfterMB = round(float64(st["VmRSS"])/1024, 1)
	}
	full, _, err := s.getRepo(b.ctx, ss.did)
	if err != nil {
		return nil, err
	}
	if res.VerifiedRecords, err = verifyScaleCAR(b.ctx, full, ss.did); err != nil {
		return nil, fmt.Errorf("the exported repo does not verify: %w", err)
	}
	if want := n + writes + 1; res.VerifiedRecords != want {
		return nil, fmt.Errorf("the exported repo has %d records, want %d", res.VerifiedRecords, want)
	}
	if err := s.stop(); err != nil {
		return nil, err
	}
	var dbBytes int64
	for _, f := range []string{"hearth.db", "hearth.db-wal"} {
		if st, err := os.Stat(filepath.Join(s.dir, f)); err == nil {
			dbBytes += st.Size()
		}
	}
	res.DBBytesPerRecord = round(float64(dbBytes)/float64(res.VerifiedRecords), 1)
	logf("scale %d: %+v", n, *res)
	return res, nil
}

// verifyScaleCAR is verifyCAR for repos of several collections.
func verifyScaleCAR(ctx context.Context, car []byte, did string) (int, error) {
	commit, r, err := repo.LoadRepoFromCAR(ctx, bytes.NewReader(car))
	if err != nil {
		return 0, err
	}
	if commit.DID != did {
		return 0, fmt.Errorf("the commit is for %s, not %s", commit.DID, did)
	}
	if r.MST.IsPartial() {
		return 0, errors.New("the MST is incomplete")
	}
	n := 0
	err = r.MST.Walk(func(k []byte, v cid.Cid) error {
		if _, err := r.RecordStore.Get(ctx, v); err != nil {
			return fmt.Errorf("record %s (%s) is missing: %w", k, v, err)
		}
		n++
		return nil
	})
	return n, err
}

// generateCAR builds a signed repo CAR for did holding n records: about
// 40% posts, 45% likes and 15% follows with TID keys in time order, as a
// long-time account has.
func generateCAR(did string, n int) ([]byte, error) {
	key, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		return nil, err
	}
	clock := syntax.NewTIDClock(0)
	recs := make(map[string]cid.Cid, n)
	blocks := make([]actorrepo.Block, 0, n)
	created := time.Date(2023, 5, 1, 0, 0, 0, 0, time.UTC)
	postRef := func(i int) map[string]any {
		return map[string]any{"uri": fmt.Sprintf("at://did:plc:%024d/app.bsky.feed.post/3k%011d", i%9973, i), "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}
	}
	for i := 0; i < n; i++ {
		at := created.Add(time.Duration(i) * 37 * time.Second).Format("2006-01-02T15:04:05.000Z")
		var col string
		var rec map[string]any
		switch x := i % 20; {
		case x < 8:
			col = "app.bsky.feed.post"
			rec = map[string]any{"$type": col, "text": fmt.Sprintf("post %d: a long-time account says something about its day, with a few more words to be typical.", i), "langs": []any{"en"}, "createdAt": at}
		case x < 17:
			col = "app.bsky.feed.like"
			rec = map[string]any{"$type": col, "subject": postRef(i), "createdAt": at}
		default:
			col = "app.bsky.graph.follow"
			rec = map[string]any{"$type": col, "subject": fmt.Sprintf("did:plc:%024d", i), "createdAt": at}
		}
		blk, err := actorrepo.EncodeRecord(rec)
		if err != nil {
			return nil, err
		}
		recs[col+"/"+clock.Next().String()] = blk.CID
		blocks = append(blocks, blk)
	}
	tree, err := mst.LoadTreeFromMap(recs)
	if err != nil {
		return nil, err
	}
	r, err := actorrepo.Rebase(syntax.DID(did), tree, key, "")
	if err != nil {
		return nil, err
	}
	nodes, err := r.Nodes()
	if err != nil {
		return nil, err
	}
	head := r.Head()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	cw, err := actorrepo.NewCARWriter(bw, head.CID)
	if err != nil {
		return nil, err
	}
	if err := cw.Put(actorrepo.Block{CID: head.CID, Data: head.Bytes}); err != nil {
		return nil, err
	}
	for _, b := range nodes {
		if err := cw.Put(b); err != nil {
			return nil, err
		}
	}
	sort.Slice(blocks, func(i, j int) bool { return blocks[i].CID.KeyString() < blocks[j].CID.KeyString() })
	for i, b := range blocks {
		if i > 0 && blocks[i-1].CID.Equals(b.CID) {
			continue
		}
		if err := cw.Put(b); err != nil {
			return nil, err
		}
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// procCPU is the CPU time (user and system) process pid has used so far:
// per-write CPU is a steadier figure than throughput on a shared machine.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis are plain numbers, utime and stime the 12th and 13th.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	// Linux reports in clock ticks of USER_HZ, 100 a second on every
	// architecture Go supports there.
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
