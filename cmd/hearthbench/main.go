package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/ipfs/go-cid"
)

const (
	mib        = 1 << 20
	password   = "hearthbench-password"
	collection = "app.bsky.feed.post"
)

type config struct {
	hearthd, workDir, pidFile, plcURL, revision string

	createRecords  int
	writesDur      time.Duration
	getRepoRecords int
	getRepoRuns    int
	importRecords  int
	blobBytes      int
	blobRuns       int
	readyStarts    int
	fsyncDur       time.Duration
	timeout        time.Duration

	replayEvents  int
	replayFillMax time.Duration
	replayMax     time.Duration
	replayRuns    int
	replayWriters int
	fanoutSubs    int
	fanoutEvents  int
	fanoutDur     time.Duration
	fanoutDecode  string
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == ceilingServerArg {
		if err := runCeilingServer(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "hearthbench ceiling server:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) >= 2 && os.Args[1] == "scale" {
		if err := runScale(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "hearthbench scale: FAILED:", err)
			os.Exit(1)
		}
		return
	}
	var c config
	flag.StringVar(&c.hearthd, "hearthd", "bin/hearthd", "hearthd binary to benchmark")
	flag.StringVar(&c.workDir, "work-dir", "", "directory for data dirs, logs and the fsync probe (required)")
	flag.StringVar(&c.pidFile, "pid-file", "", "append the PID of every started hearthd here")
	flag.StringVar(&c.revision, "revision", "", "source revision of hearthd, copied into the output")
	flag.StringVar(&c.plcURL, "plc-url", "http://127.0.0.1:9", "PLC URL given to hearthd (unreachable on purpose)")
	flag.IntVar(&c.createRecords, "create-records", 2000, "createRecord calls to time")
	flag.DurationVar(&c.writesDur, "writes-duration", 5*time.Second, "how long each applyWrites run lasts")
	flag.IntVar(&c.getRepoRecords, "get-repo-records", 10000, "records in the getRepo repo")
	flag.IntVar(&c.getRepoRuns, "get-repo-runs", 5, "timed getRepo downloads")
	flag.IntVar(&c.importRecords, "import-records", 100000, "records in the imported repo")
	flag.IntVar(&c.blobBytes, "blob-bytes", 50*mib, "size of the uploaded blob")
	flag.IntVar(&c.blobRuns, "blob-runs", 3, "blob uploads (median reported)")
	flag.IntVar(&c.readyStarts, "ready-starts", 5, "server starts for ready_ms")
	flag.DurationVar(&c.fsyncDur, "fsync-duration", 2*time.Second, "length of the fsync probe")
	flag.DurationVar(&c.timeout, "timeout", 9*time.Minute, "give up after this long")
	flag.IntVar(&c.replayEvents, "replay-events", 50000, "events the log is topped up to before the firehose replay")
	flag.DurationVar(&c.replayFillMax, "replay-fill-max", 60*time.Second, "time limit for topping up the log")
	flag.DurationVar(&c.replayMax, "replay-max", 60*time.Second, "time limit for one firehose replay")
	flag.IntVar(&c.replayWriters, "replay-fill-writers", 2, "parallel writers (one account each, at most 5) topping up the log")
	flag.IntVar(&c.replayRuns, "replay-runs", 3, "firehose replays (the median is reported)")
	flag.IntVar(&c.fanoutSubs, "fanout-subs", 100, "live subscribers in firehose_fanout")
	flag.IntVar(&c.fanoutEvents, "fanout-events", 2000, "writes in firehose_fanout (at most)")
	flag.DurationVar(&c.fanoutDur, "fanout-duration", 5*time.Second, "time limit for firehose_fanout's writes")
	flag.StringVar(&c.fanoutDecode, "fanout-decode", "light", "how fanout subscribers decode frames: light (header, seq, rev) or full (events.Decode)")
	flag.Parse()
	if c.fanoutDecode != "light" && c.fanoutDecode != "full" {
		fmt.Fprintln(os.Stderr, "hearthbench: --fanout-decode must be light or full")
		os.Exit(2)
	}
	if c.workDir == "" {
		fmt.Fprintln(os.Stderr, "hearthbench: --work-dir is required")
		os.Exit(2)
	}
	if abs, err := filepath.Abs(c.hearthd); err == nil {
		c.hearthd = abs
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	b := &bench{cfg: c, ctx: ctx}
	res, err := b.run()
	err = errors.Join(err, b.stopAll())
	if err != nil {
		fmt.Fprintln(os.Stderr, "hearthbench: FAILED:", err)
		b.dumpLogs()
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false) // keep ">=" readable in the targets
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "hearthbench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

// ---------------------------------------------------------------- results

type createRecordResult struct {
	Records           int     `json:"records"`
	Seconds           float64 `json:"seconds"`
	RecordsPerS       float64 `json:"records_per_s"`
	P50Ms             float64 `json:"p50_ms"`
	P99Ms             float64 `json:"p99_ms"`
	MaxMs             float64 `json:"max_ms"`
	RatioToFsyncFloor float64 `json:"ratio_to_fsync_floor"`
	costs
}

// costs say where a write benchmark's time went: CPU of hearthd and of this
// client per record, and bytes hearthd sent to the block layer per record
// (/proc/PID/io write_bytes: the WAL and checkpoint writes).
type costs struct {
	ServerCPUMsPerRecord float64 `json:"server_cpu_ms_per_record"`
	ClientCPUMsPerRecord float64 `json:"client_cpu_ms_per_record"`
	DiskWriteKBPerRecord float64 `json:"disk_write_kib_per_record"`
}

type applyWritesResult struct {
	BatchSize     int     `json:"batch_size"`
	Batches       int     `json:"batches"`
	Records       int     `json:"records"`
	Seconds       float64 `json:"seconds"`
	RecordsPerS   float64 `json:"records_per_s"`
	BatchP50Ms    float64 `json:"batch_p50_ms"`
	BatchP99Ms    float64 `json:"batch_p99_ms"`
	RepoSizeAfter int     `json:"repo_records_after"`
	costs
}

type getRepoResult struct {
	Records          int     `json:"records"`
	CARBytes         int     `json:"car_bytes"`
	Downloads        int     `json:"downloads"`
	MBPerS           float64 `json:"mb_per_s"`
	MedianMs         float64 `json:"median_ms"`
	VerifiedRecords  int     `json:"verified_records"`
	ServerCPUMsPerMB float64 `json:"server_cpu_ms_per_mb"`
}

type importResult struct {
	Records            int     `json:"records"`
	CARBytes           int     `json:"car_bytes"`
	BuildRecordsPerS   float64 `json:"build_records_per_s"`
	ExportSeconds      float64 `json:"export_seconds"`
	Status             int     `json:"status"`
	Seconds            float64 `json:"seconds"`
	PeakRSSMB          float64 `json:"peak_rss_mb"`
	ServerCPUSeconds   float64 `json:"server_cpu_seconds"`
	DiskWriteMB        float64 `json:"disk_write_mb"`
	RSSBeforeMB        float64 `json:"rss_before_mb"`
	RSSAfterMB         float64 `json:"rss_after_mb"`
	VerifiedRecords    int     `json:"verified_records_after_import"`
	ExportAfterSeconds float64 `json:"export_after_import_seconds"`
}

type uploadResult struct {
	Bytes     int       `json:"bytes"`
	Uploads   int       `json:"uploads"`
	MBPerS    float64   `json:"mb_per_s"`
	AllMBPerS []float64 `json:"all_mb_per_s"`
}

type target struct {
	Target string `json:"target"`
	Value  any    `json:"value"`
	Meets  bool   `json:"meets"`
	Note   string `json:"note,omitempty"`
}

type results struct {
	FsyncFloorPerS float64              `json:"fsync_floor_per_s"`
	FsyncRecheck   float64              `json:"fsync_floor_recheck_per_s"`
	CreateRecord   createRecordResult   `json:"create_record"`
	HTTPFsyncCeil  *ceilingResult       `json:"http_fsync_ceiling"`
	ApplyWrites10  applyWritesResult    `json:"apply_writes_10"`
	ApplyWrites200 applyWritesResult    `json:"apply_writes_200"`
	GetRepo        getRepoResult        `json:"get_repo"`
	ImportRepo100k importResult         `json:"import_repo_100k"`
	UploadBlob     uploadResult         `json:"upload_blob"`
	FirehoseReplay firehoseReplayResult `json:"firehose_replay"`
	FirehoseFanout firehoseFanoutResult `json:"firehose_fanout"`
	IdleRSSMB      float64              `json:"idle_rss_mb"`
	ReadyMs        float64              `json:"ready_ms"`
	ReadyAllMs     []float64            `json:"ready_all_ms"`
	Targets        map[string]target    `json:"targets"`
	AllTargetsMet  bool                 `json:"all_targets_met"`
	Env            map[string]any       `json:"env"`
}

// ---------------------------------------------------------------- bench

type bench struct {
	cfg     config
	ctx     context.Context
	servers []*server
}

func (b *bench) run() (*results, error) {
	start := time.Now()
	res := &results{}
	var err error
	loadStart := loadAvg()

	logf("fsync floor (%s) in %s", b.cfg.fsyncDur, b.cfg.workDir)
	if res.FsyncFloorPerS, err = fsyncFloor(b.cfg.workDir, b.cfg.fsyncDur); err != nil {
		return nil, fmt.Errorf("fsync floor: %w", err)
	}
	logf("fsync floor: %.0f/s", res.FsyncFloorPerS)

	if err := b.readyAndIdle(res); err != nil {
		return nil, fmt.Errorf("ready/idle: %w", err)
	}
	if err := b.mainPhases(res); err != nil {
		return nil, err
	}
	if err := b.importPhase(res); err != nil {
		return nil, fmt.Errorf("import_repo_100k: %w", err)
	}
	if err := b.fanoutPhase(&res.FirehoseFanout); err != nil {
		return nil, fmt.Errorf("firehose_fanout: %w", err)
	}
	res.Targets, res.AllTargetsMet = evaluate(res, b.cfg.importRecords)
	if fr := res.FirehoseReplay; fr.Events < b.cfg.replayEvents {
		x := res.Targets["firehose_replay"]
		x.Note = fmt.Sprintf("replayed %d events, fewer than the %d asked for", fr.Events, b.cfg.replayEvents)
		res.Targets["firehose_replay"] = x
	}
	host, _ := os.Hostname()
	res.Env = map[string]any{
		"host": host, "cpus": runtime.NumCPU(), "go": runtime.Version(),
		"hearthd": b.cfg.hearthd, "revision": b.cfg.revision,
		"work_dir_fs":   fsType(b.cfg.workDir),
		"loadavg_start": loadStart, "loadavg_end": loadAvg(),
		"bench_seconds": round(time.Since(start).Seconds(), 1),
		"mb":            "MiB (2^20 bytes)",
	}
	return res, nil
}

func (b *bench) readyAndIdle(res *results) error {
	dir := filepath.Join(b.cfg.workDir, "idle")
	port, err := freePort()
	if err != nil {
		return err
	}
	if _, err := b.createAccount(dir, port, "idle.bench.test"); err != nil {
		return err
	}
	var all []float64
	for i := 0; i < b.cfg.readyStarts; i++ {
		s, err := b.startServer(dir, port)
		if err != nil {
			return err
		}
		all = append(all, ms(s.ready))
		if i == b.cfg.readyStarts-1 {
			time.Sleep(time.Second)
			st, err := procStatus(s.cmd.Process.Pid)
			if err != nil {
				return err
			}
			res.IdleRSSMB = round(float64(st["VmRSS"])/1024, 1)
		}
		if err := s.stop(); err != nil {
			return err
		}
	}
	res.ReadyAllMs = roundAll(all, 1)
	res.ReadyMs = round(median(all), 1)
	logf("ready_ms median %.1f (%v), idle RSS %.1f MB", res.ReadyMs, res.ReadyAllMs, res.IdleRSSMB)
	return nil
}

// mainPhases runs the write, getRepo and blob benchmarks on one server,
// each write benchmark on its own account (so each starts from an empty repo).
func (b *bench) mainPhases(res *results) (err error) {
	dir := filepath.Join(b.cfg.workDir, "main")
	port, err := freePort()
	if err != nil {
		return err
	}
	handles := []string{"cr.bench.test", "aw10.bench.test", "aw200.bench.test", "getrepo.bench.test", "blob.bench.test"}
	dids := map[string]string{}
	for _, h := range handles {
		did, err := b.createAccount(dir, port, h)
		if err != nil {
			return err
		}
		dids[h] = did
	}
	s, err := b.startServer(dir, port)
	if err != nil {
		return err
	}
	defer s.stopInto(&err)
	sess := map[string]*session{}
	for _, h := range handles {
		ss, err := s.login(b.ctx, h, dids[h])
		if err != nil {
			return err
		}
		sess[h] = ss
	}

	// createRecord
	{
		ss := sess["cr.bench.test"]
		for i := 0; i < 20; i++ { // warm-up: load the repo, open connections
			if err := ss.createRecord(b.ctx, i); err != nil {
				return fmt.Errorf("create_record warm-up: %w", err)
			}
		}
		logf("create_record: %d sequential calls", b.cfg.createRecords)
		lat := make([]float64, 0, b.cfg.createRecords)
		deadline := time.Now().Add(90 * time.Second)
		m := s.meter()
		t0 := time.Now()
		for i := 0; i < b.cfg.createRecords && time.Now().Before(deadline); i++ {
			t := time.Now()
			if err := ss.createRecord(b.ctx, i); err != nil {
				return fmt.Errorf("create_record %d: %w", i, err)
			}
			lat = append(lat, ms(time.Since(t)))
		}
		el := time.Since(t0).Seconds()
		r := &res.CreateRecord
		r.costs = m.costs(len(lat))
		r.Records, r.Seconds = len(lat), round(el, 3)
		r.RecordsPerS = round(float64(len(lat))/el, 1)
		sort.Float64s(lat)
		r.P50Ms, r.P99Ms, r.MaxMs = round(pct(lat, 50), 3), round(pct(lat, 99), 3), round(lat[len(lat)-1], 3)
		r.RatioToFsyncFloor = round(r.RecordsPerS/res.FsyncFloorPerS, 3)
		logf("create_record: %.0f/s p50 %.2f ms p99 %.2f ms (%.0f%% of fsync floor); per record: server CPU %.3f ms, client CPU %.3f ms, %.1f KiB written",
			r.RecordsPerS, r.P50Ms, r.P99Ms, 100*r.RatioToFsyncFloor, r.ServerCPUMsPerRecord, r.ClientCPUMsPerRecord, r.DiskWriteKBPerRecord)
		// The floor drifts on shared machines: measure it again next to
		// the run it is compared with.
		if res.FsyncRecheck, err = fsyncFloor(b.cfg.workDir, time.Second); err != nil {
			return fmt.Errorf("fsync floor: %w", err)
		}
		logf("fsync floor recheck: %.0f/s", res.FsyncRecheck)
		if res.HTTPFsyncCeil, err = httpFsyncCeiling(b.ctx, b.cfg.workDir, b.cfg.createRecords, res.FsyncFloorPerS); err != nil {
			return fmt.Errorf("http_fsync_ceiling: %w", err)
		}
		logf("http_fsync_ceiling: %.0f/s p50 %.2f ms p99 %.2f ms (%.0f%% of the fsync floor) for a server doing nothing but one fsync per request",
			res.HTTPFsyncCeil.RequestsPerS, res.HTTPFsyncCeil.P50Ms, res.HTTPFsyncCeil.P99Ms, 100*res.HTTPFsyncCeil.RatioToFsyncFloor)
	}

	// applyWrites
	for _, bs := range []struct {
		size   int
		handle string
		out    *applyWritesResult
	}{{10, "aw10.bench.test", &res.ApplyWrites10}, {200, "aw200.bench.test", &res.ApplyWrites200}} {
		ss := sess[bs.handle]
		if err := ss.applyWrites(b.ctx, bs.size, 0); err != nil { // warm-up
			return fmt.Errorf("apply_writes_%d warm-up: %w", bs.size, err)
		}
		logf("apply_writes_%d: batches for %s", bs.size, b.cfg.writesDur)
		maxBatches := 200000 / bs.size
		m := s.meter()
		r, err := ss.fill(b.ctx, bs.size, maxBatches, b.cfg.writesDur)
		if err != nil {
			return fmt.Errorf("apply_writes_%d: %w", bs.size, err)
		}
		r.costs = m.costs(r.Records)
		r.RepoSizeAfter = r.Records + bs.size
		*bs.out = *r
		logf("apply_writes_%d: %d batches, %.0f records/s, batch p50 %.2f ms p99 %.2f ms; per record: server CPU %.3f ms, client CPU %.3f ms, %.1f KiB written",
			bs.size, r.Batches, r.RecordsPerS, r.BatchP50Ms, r.BatchP99Ms, r.ServerCPUMsPerRecord, r.ClientCPUMsPerRecord, r.DiskWriteKBPerRecord)
	}

	// getRepo
	{
		ss := sess["getrepo.bench.test"]
		n := b.cfg.getRepoRecords
		logf("get_repo: building a %d-record repo", n)
		if _, err := ss.fillExactly(b.ctx, n); err != nil {
			return fmt.Errorf("get_repo build: %w", err)
		}
		car, _, err := s.getRepo(b.ctx, ss.did)
		if err != nil {
			return fmt.Errorf("get_repo: %w", err)
		}
		got, _, err := verifyCAR(b.ctx, car, ss.did)
		if err != nil {
			return fmt.Errorf("get_repo: the CAR does not check out: %w", err)
		}
		if got != n {
			return fmt.Errorf("get_repo: the CAR holds %d records, want %d", got, n)
		}
		var total int
		var times []float64
		var sum time.Duration
		m := s.meter()
		for i := 0; i < b.cfg.getRepoRuns; i++ {
			nb, d, err := s.getRepoDiscard(b.ctx, ss.did)
			if err != nil {
				return fmt.Errorf("get_repo: %w", err)
			}
			if nb != len(car) {
				return fmt.Errorf("get_repo: download %d was %d bytes, the first %d", i, nb, len(car))
			}
			total += nb
			sum += d
			times = append(times, ms(d))
		}
		r := &res.GetRepo
		r.Records, r.CARBytes, r.Downloads, r.VerifiedRecords = n, len(car), len(times), got
		r.MBPerS = round(float64(total)/mib/sum.Seconds(), 1)
		r.ServerCPUMsPerMB = round(m.costs(1).ServerCPUMsPerRecord/(float64(total)/mib), 2)
		r.MedianMs = round(median(times), 1)
		logf("get_repo: %d-byte CAR (%d records verified), %.1f MB/s, median %.1f ms", len(car), got, r.MBPerS, r.MedianMs)
	}

	// uploadBlob
	{
		ss := sess["blob.bench.test"]
		data := make([]byte, b.cfg.blobBytes)
		if _, err := rand.Read(data); err != nil {
			return err
		}
		var speeds []float64
		for i := 0; i < b.cfg.blobRuns; i++ {
			data[0], data[1] = byte(i), byte(i>>8) // a new blob each time
			d, err := ss.uploadBlob(b.ctx, data)
			if err != nil {
				return fmt.Errorf("upload_blob: %w", err)
			}
			speeds = append(speeds, float64(len(data))/mib/d.Seconds())
		}
		r := &res.UploadBlob
		r.Bytes, r.Uploads, r.MBPerS, r.AllMBPerS = len(data), len(speeds), round(median(speeds), 1), roundAll(speeds, 1)
		logf("upload_blob: %.1f MB/s (%v)", r.MBPerS, r.AllMBPerS)
	}

	// firehose replay, over everything the workloads above wrote
	var all []*session
	for _, h := range handles[:max(1, min(len(handles), b.cfg.replayWriters))] {
		all = append(all, sess[h])
	}
	if err := b.replayPhase(s, all, &res.FirehoseReplay); err != nil {
		return fmt.Errorf("firehose_replay: %w", err)
	}
	return s.stop()
}

func (b *bench) importPhase(res *results) (err error) {
	n := b.cfg.importRecords
	r := &res.ImportRepo100k
	r.Records = n
	s, ss, err := b.freshServer("import")
	if err != nil {
		return err
	}
	did := ss.did
	logf("import: building a %d-record repo with applyWrites", n)
	t0 := time.Now()
	if _, err := ss.fillExactly(b.ctx, n); err != nil {
		return errors.Join(fmt.Errorf("build: %w", err), s.stop())
	}
	r.BuildRecordsPerS = round(float64(n)/time.Since(t0).Seconds(), 1)
	t0 = time.Now()
	car, _, err := s.getRepo(b.ctx, did)
	if err != nil {
		return errors.Join(fmt.Errorf("export: %w", err), s.stop())
	}
	r.ExportSeconds = round(time.Since(t0).Seconds(), 3)
	got, rev, err := verifyCAR(b.ctx, car, did)
	if err != nil {
		return errors.Join(fmt.Errorf("export: the CAR does not check out: %w", err), s.stop())
	}
	if got != n {
		return errors.Join(fmt.Errorf("export: the CAR holds %d records, want %d", got, n), s.stop())
	}
	r.CARBytes = len(car)
	logf("import: built at %.0f records/s, exported %d bytes in %.2f s (rev %s)", r.BuildRecordsPerS, len(car), r.ExportSeconds, rev)
	if err := s.stop(); err != nil {
		return err
	}

	// A fresh process, so VmHWM measures the import and nothing before it.
	s, err = b.startServer(s.dir, s.port)
	if err != nil {
		return err
	}
	defer s.stopInto(&err)
	pid := s.cmd.Process.Pid
	if st, err := procStatus(pid); err == nil {
		r.RSSBeforeMB = round(float64(st["VmRSS"])/1024, 1)
	}
	logf("import: importRepo of %d bytes into a fresh server (pid %d)", len(car), pid)
	// The access token from before the restart is still valid (the JWT
	// secret is stored), which avoids an argon2 login inflating VmHWM.
	m := s.meter()
	status, d, err := ss.importRepo(b.ctx, car)
	mc := m.costs(1)
	r.ServerCPUSeconds = round(mc.ServerCPUMsPerRecord/1000, 2)
	r.DiskWriteMB = round(mc.DiskWriteKBPerRecord/1024, 1)
	st, serr := procStatus(pid)
	if serr != nil {
		return serr
	}
	r.Status = status
	r.Seconds = round(d.Seconds(), 3)
	r.PeakRSSMB = round(float64(st["VmHWM"])/1024, 1)
	r.RSSAfterMB = round(float64(st["VmRSS"])/1024, 1)
	if err != nil {
		return err
	}
	logf("import: %d in %.2f s, peak RSS %.1f MB, server CPU %.2f s, %.1f MB written", status, r.Seconds, r.PeakRSSMB, r.ServerCPUSeconds, r.DiskWriteMB)
	t0 = time.Now()
	car2, _, err := s.getRepo(b.ctx, did)
	if err != nil {
		return fmt.Errorf("export after import: %w", err)
	}
	r.ExportAfterSeconds = round(time.Since(t0).Seconds(), 3)
	got, rev2, err := verifyCAR(b.ctx, car2, did)
	if err != nil {
		return fmt.Errorf("export after import: %w", err)
	}
	if got != n {
		return fmt.Errorf("after import the repo holds %d records, want %d", got, n)
	}
	if rev2 <= rev {
		return fmt.Errorf("after import the rev is %s, not newer than %s", rev2, rev)
	}
	r.VerifiedRecords = got
	return s.stop()
}

func evaluate(res *results, importN int) (map[string]target, bool) {
	cr := res.CreateRecord
	var ceilingRatio float64 // what a do-nothing-but-fsync server scores
	if res.HTTPFsyncCeil != nil {
		ceilingRatio = res.HTTPFsyncCeil.RatioToFsyncFloor
	}
	t := map[string]target{
		"create_record": {
			Target: "records_per_s >= 0.8 * fsync_floor_per_s and p99_ms < 5",
			Value:  map[string]float64{"ratio_to_fsync_floor": cr.RatioToFsyncFloor, "p99_ms": cr.P99Ms, "http_fsync_ceiling_ratio": ceilingRatio},
			Meets:  cr.RatioToFsyncFloor >= 0.8 && cr.P99Ms < 5,
		},
		"apply_writes_200": {
			Target: "records_per_s >= 20000", Value: res.ApplyWrites200.RecordsPerS,
			Meets: res.ApplyWrites200.RecordsPerS >= 20000,
		},
		"get_repo": {Target: "mb_per_s >= 100", Value: res.GetRepo.MBPerS, Meets: res.GetRepo.MBPerS >= 100},
		"import_repo_100k": {
			Target: "seconds < 10 and peak_rss_mb < 300",
			Value:  map[string]float64{"seconds": res.ImportRepo100k.Seconds, "peak_rss_mb": res.ImportRepo100k.PeakRSSMB},
			Meets:  res.ImportRepo100k.Status == 200 && res.ImportRepo100k.Seconds < 10 && res.ImportRepo100k.PeakRSSMB < 300,
		},
		"firehose_replay": {
			Target: "events_per_s >= 50000", Value: res.FirehoseReplay.EventsPerS,
			Meets: res.FirehoseReplay.EventsPerS >= 50000 && res.FirehoseReplay.SeqGaps == 0,
		},
		"firehose_fanout": {
			Target: "p99_ms < 50 and every subscriber gets every event",
			Value: map[string]any{"p99_ms": res.FirehoseFanout.P99Ms, "subscribers": res.FirehoseFanout.Subscribers,
				"all_got_every_event": res.FirehoseFanout.AllGotAll},
			Meets: res.FirehoseFanout.Pairs > 0 && res.FirehoseFanout.P99Ms < 50 && res.FirehoseFanout.AllGotAll,
		},
		"idle_rss_mb": {Target: "< 40", Value: res.IdleRSSMB, Meets: res.IdleRSSMB < 40},
		"ready_ms":    {Target: "< 300", Value: res.ReadyMs, Meets: res.ReadyMs < 300},
	}
	if importN != 100000 {
		x := t["import_repo_100k"]
		x.Note = fmt.Sprintf("measured with %d records, not 100k", importN)
		x.Meets = false
		t["import_repo_100k"] = x
	}
	all := true
	for _, v := range t {
		all = all && v.Meets
	}
	return t, all
}

// ---------------------------------------------------------------- servers

type server struct {
	cmd     *exec.Cmd
	base    string
	dir     string
	port    int
	logPath string
	ready   time.Duration
	exited  chan struct{}
	waitErr error
	stopped bool
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	return port, ln.Close()
}

func publicURL(port int) string { return "http://localhost:" + strconv.Itoa(port) }

func (b *bench) createAccount(dir string, port int, handle string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.cfg.hearthd, "account", "create", "--data-dir", dir, "--handle", handle,
		"--password", password, "--public-url", publicURL(port), "--plc-url", b.cfg.plcURL)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hearthd account create %s: %v: %s", handle, err, strings.TrimSpace(stderr.String()))
	}
	did := strings.TrimSpace(string(out))
	if !strings.HasPrefix(did, "did:") {
		return "", fmt.Errorf("hearthd account create %s printed %q, not a DID", handle, did)
	}
	return did, nil
}

// startServer starts hearthd serve on dir and waits for /xrpc/_health.
// freshServer starts hearthd on a new data dir named name, holding one
// account (name.bench.test), and logs that account in.
func (b *bench) freshServer(name string) (*server, *session, error) {
	dir := filepath.Join(b.cfg.workDir, name)
	port, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	handle := name + ".bench.test"
	did, err := b.createAccount(dir, port, handle)
	if err != nil {
		return nil, nil, err
	}
	s, err := b.startServer(dir, port)
	if err != nil {
		return nil, nil, err
	}
	ss, err := s.login(b.ctx, handle, did)
	if err != nil {
		return nil, nil, errors.Join(err, s.stop())
	}
	return s, ss, nil
}

func (b *bench) startServer(dir string, port int) (*server, error) {
	logPath := filepath.Join(b.cfg.workDir, fmt.Sprintf("hearthd-%d.log", len(b.servers)))
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// The child has its own copy of the descriptor once started.
	defer func() {
		if err := lf.Close(); err != nil {
			logf("close %s: %v", logPath, err)
		}
	}()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(b.cfg.hearthd, "serve", "--data-dir", dir, "--listen", addr,
		"--public-url", publicURL(port), "--plc-url", b.cfg.plcURL)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &server{cmd: cmd, base: "http://" + addr, dir: dir, port: port, logPath: logPath, exited: make(chan struct{})}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start hearthd: %w", err)
	}
	b.servers = append(b.servers, s)
	if b.cfg.pidFile != "" {
		if err := appendPID(b.cfg.pidFile, cmd.Process.Pid); err != nil {
			logf("pid file: %v", err) // only a help for cleaning up after a killed run
		}
	}
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: time.Second}
	deadline := t0.Add(15 * time.Second)
	for {
		resp, err := hc.Get(s.base + "/xrpc/_health")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body) // drained only to reuse the connection
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.ready = time.Since(t0)
				return s, nil
			}
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("hearthd exited before it was ready: %v (log %s)", s.waitErr, logPath)
		default:
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("hearthd not ready after 15 s (log %s)", logPath), s.stop())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits (SIGKILL after 10 s). Safe to call twice.
func (s *server) stop() error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	select {
	case <-s.exited:
		return fmt.Errorf("hearthd (pid %d) had already exited: %v (log %s)", s.cmd.Process.Pid, s.waitErr, s.logPath)
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop hearthd (pid %d): %w", s.cmd.Process.Pid, err)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(10 * time.Second):
		if err := s.cmd.Process.Kill(); err != nil {
			return fmt.Errorf("kill hearthd (pid %d) after SIGTERM was ignored: %w", s.cmd.Process.Pid, err)
		}
		<-s.exited
		return fmt.Errorf("hearthd (pid %d) ignored SIGTERM for 10 s", s.cmd.Process.Pid)
	}
}

// stopInto stops s when a phase ends and adds a failure (hearthd crashed
// or would not stop) to the phase's error.
func (s *server) stopInto(err *error) {
	*err = errors.Join(*err, s.stop())
}

func (b *bench) stopAll() error {
	var errs []error
	for _, s := range b.servers {
		errs = append(errs, s.stop())
	}
	return errors.Join(errs...)
}

// appendPID adds pid to the file of started hearthd processes.
func appendPID(path string, pid int) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(f, pid)
	return errors.Join(err, f.Close())
}

func (b *bench) dumpLogs() {
	for _, s := range b.servers {
		data, err := os.ReadFile(s.logPath)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		var keep []string
		for _, l := range lines {
			if !strings.Contains(l, `"level":"INFO"`) {
				keep = append(keep, l)
			}
		}
		if len(keep) > 20 {
			keep = keep[len(keep)-20:]
		}
		if len(keep) > 0 {
			fmt.Fprintf(os.Stderr, "--- %s (non-INFO lines):\n%s\n", s.logPath, strings.Join(keep, "\n"))
		}
	}
}

// ---------------------------------------------------------------- XRPC

var client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, DisableCompression: true}}

type session struct {
	s      *server
	did    string
	access string
	seq    int
}

func (s *server) do(ctx context.Context, method, nsid, query, token, ctype string, body []byte, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	u := s.base + "/xrpc/" + nsid
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", nsid, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s: reading the response: %w", nsid, err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("%s: HTTP %d: %.300s", nsid, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s: bad JSON response: %w", nsid, err)
		}
	}
	return resp.StatusCode, nil
}

func (s *server) login(ctx context.Context, handle, did string) (*session, error) {
	var out struct {
		AccessJwt string `json:"accessJwt"`
		DID       string `json:"did"`
	}
	body, _ := json.Marshal(map[string]string{"identifier": handle, "password": password})
	if _, err := s.do(ctx, "POST", "com.atproto.server.createSession", "", "", "application/json", body, &out); err != nil {
		return nil, err
	}
	if out.DID != did || out.AccessJwt == "" {
		return nil, fmt.Errorf("createSession for %s: got did %q and token %d bytes", handle, out.DID, len(out.AccessJwt))
	}
	return &session{s: s, did: did, access: out.AccessJwt}, nil
}

func appendPost(b []byte, i int) []byte {
	b = append(b, `{"$type":"app.bsky.feed.post","text":"hearthbench post #`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `: the quick brown fox jumps over the lazy dog, then writes it down durably.","langs":["en"],"createdAt":"`...)
	b = time.Now().UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	return append(b, `"}`...)
}

func (ss *session) createRecord(ctx context.Context, i int) error {
	b := make([]byte, 0, 512)
	b = append(b, `{"repo":"`...)
	b = append(b, ss.did...)
	b = append(b, `","collection":"app.bsky.feed.post","record":`...)
	b = appendPost(b, i)
	b = append(b, '}')
	var out struct {
		URI string `json:"uri"`
		CID string `json:"cid"`
	}
	if _, err := ss.s.do(ctx, "POST", "com.atproto.repo.createRecord", "", ss.access, "application/json", b, &out); err != nil {
		return err
	}
	if !strings.HasPrefix(out.URI, "at://"+ss.did+"/"+collection+"/") || out.CID == "" {
		return fmt.Errorf("createRecord: unexpected answer uri=%q cid=%q", out.URI, out.CID)
	}
	return nil
}

func (ss *session) applyWrites(ctx context.Context, n, base int) error {
	b := make([]byte, 0, 64+n*300)
	b = append(b, `{"repo":"`...)
	b = append(b, ss.did...)
	b = append(b, `","writes":[`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"$type":"com.atproto.repo.applyWrites#create","collection":"app.bsky.feed.post","value":`...)
		b = appendPost(b, base+i)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	var out struct {
		Results []struct {
			URI string `json:"uri"`
		} `json:"results"`
	}
	if _, err := ss.s.do(ctx, "POST", "com.atproto.repo.applyWrites", "", ss.access, "application/json", b, &out); err != nil {
		return err
	}
	if len(out.Results) != n {
		return fmt.Errorf("applyWrites: %d results for %d writes", len(out.Results), n)
	}
	return nil
}

// fill sends batches of size creates until maxBatches or dur, whichever
// comes first.
func (ss *session) fill(ctx context.Context, size, maxBatches int, dur time.Duration) (*applyWritesResult, error) {
	var lat []float64
	t0 := time.Now()
	for i := 0; i < maxBatches && time.Since(t0) < dur; i++ {
		t := time.Now()
		if err := ss.applyWrites(ctx, size, ss.seq); err != nil {
			return nil, err
		}
		ss.seq += size
		lat = append(lat, ms(time.Since(t)))
	}
	el := time.Since(t0).Seconds()
	sort.Float64s(lat)
	n := len(lat) * size
	return &applyWritesResult{
		BatchSize: size, Batches: len(lat), Records: n, Seconds: round(el, 3),
		RecordsPerS: round(float64(n)/el, 1), BatchP50Ms: round(pct(lat, 50), 3), BatchP99Ms: round(pct(lat, 99), 3),
	}, nil
}

// fillExactly creates n records in batches of 200 (bounded by a time limit).
func (ss *session) fillExactly(ctx context.Context, n int) (time.Duration, error) {
	t0 := time.Now()
	deadline := t0.Add(4 * time.Minute)
	for done := 0; done < n; {
		k := min(200, n-done)
		if err := ss.applyWrites(ctx, k, ss.seq); err != nil {
			return 0, err
		}
		ss.seq += k
		done += k
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("gave up after %s with %d of %d records", time.Since(t0).Round(time.Second), done, n)
		}
	}
	return time.Since(t0), nil
}

func (ss *session) uploadBlob(ctx context.Context, data []byte) (time.Duration, error) {
	var out struct {
		Blob struct {
			Size     int    `json:"size"`
			MimeType string `json:"mimeType"`
			Ref      struct {
				Link string `json:"$link"`
			} `json:"ref"`
		} `json:"blob"`
	}
	t0 := time.Now()
	if _, err := ss.s.do(ctx, "POST", "com.atproto.repo.uploadBlob", "", ss.access, "application/octet-stream", data, &out); err != nil {
		return 0, err
	}
	d := time.Since(t0)
	if out.Blob.Size != len(data) || out.Blob.Ref.Link == "" {
		return 0, fmt.Errorf("uploadBlob: answer says size %d (sent %d), ref %q", out.Blob.Size, len(data), out.Blob.Ref.Link)
	}
	return d, nil
}

func (ss *session) importRepo(ctx context.Context, car []byte) (int, time.Duration, error) {
	t0 := time.Now()
	status, err := ss.s.do(ctx, "POST", "com.atproto.repo.importRepo", "", ss.access, "application/vnd.ipld.car", car, nil)
	return status, time.Since(t0), err
}

func (s *server) getRepo(ctx context.Context, did string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.base+"/xrpc/com.atproto.sync.getRepo?did="+did, nil)
	if err != nil {
		return nil, 0, err
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	d := time.Since(t0)
	if err != nil {
		return nil, 0, fmt.Errorf("getRepo: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("getRepo: HTTP %d: %.300s", resp.StatusCode, data)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.ipld.car" {
		return nil, 0, fmt.Errorf("getRepo: Content-Type %q", ct)
	}
	return data, d, nil
}

func (s *server) getRepoDiscard(ctx context.Context, did string) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.base+"/xrpc/com.atproto.sync.getRepo?did="+did, nil)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	d := time.Since(t0)
	if err != nil {
		return 0, 0, fmt.Errorf("getRepo: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("getRepo: HTTP %d", resp.StatusCode)
	}
	return int(n), d, nil
}

// verifyCAR loads a repo CAR with indigo, checks it is did's repo with a
// complete MST whose every record block is present, and counts the records.
func verifyCAR(ctx context.Context, car []byte, did string) (int, string, error) {
	commit, r, err := repo.LoadRepoFromCAR(ctx, bytes.NewReader(car))
	if err != nil {
		return 0, "", err
	}
	if commit.DID != did {
		return 0, "", fmt.Errorf("the commit is for %s, not %s", commit.DID, did)
	}
	if r.MST.IsPartial() {
		return 0, "", errors.New("the MST is incomplete")
	}
	n := 0
	err = r.MST.Walk(func(k []byte, v cid.Cid) error {
		if !strings.HasPrefix(string(k), collection+"/") {
			return fmt.Errorf("unexpected record path %q", k)
		}
		if _, err := r.RecordStore.Get(ctx, v); err != nil {
			return fmt.Errorf("record %s (%s) is missing: %w", k, v, err)
		}
		n++
		return nil
	})
	return n, commit.Rev, err
}

// ---------------------------------------------------------------- system

// fsyncFloor measures 4 KiB write + fdatasync round trips per second on a
// file in dir. The file's first 1 MiB is allocated and synced first, and the
// loop rewrites it block by block, like a SQLite WAL being reused; so
// fdatasync never has to persist a size change.
func fsyncFloor(dir string, dur time.Duration) (float64, error) {
	f, err := os.CreateTemp(dir, "fsync-probe-*")
	if err != nil {
		return 0, err
	}
	defer removeProbe(f)
	const blocks = 256
	buf := make([]byte, 4096)
	rand.Read(buf)
	if _, err := f.Write(bytes.Repeat(buf, blocks)); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	fd := int(f.Fd())
	n := 0
	t0 := time.Now()
	for time.Since(t0) < dur && n < 10_000_000 {
		buf[0] = byte(n)
		if _, err := f.WriteAt(buf, int64(n%blocks)*4096); err != nil {
			return 0, err
		}
		if err := syscall.Fdatasync(fd); err != nil {
			return 0, err
		}
		n++
	}
	return round(float64(n)/time.Since(t0).Seconds(), 1), nil
}

// procStatus reads the kB fields (VmRSS, VmHWM, …) of /proc/PID/status.
func procStatus(pid int) (map[string]int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.HasSuffix(v, " kB") {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, " kB")), 10, 64); err == nil {
			out[k] = n
		}
	}
	if _, ok := out["VmRSS"]; !ok {
		return nil, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
	}
	return out, nil
}

// loadAvg is /proc/loadavg's 1, 5 and 15 minute figures: the benchmark
// shares the CPUs and disk with whatever else runs, so record how busy it was.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func fsType(dir string) string {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return ""
	}
	best, typ := "", ""
	abs, _ := filepath.Abs(dir)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		if (abs == f[1] || strings.HasPrefix(abs, strings.TrimSuffix(f[1], "/")+"/")) && len(f[1]) > len(best) {
			best, typ = f[1], f[2]+" on "+f[0]
		}
	}
	return typ
}

type usage struct {
	server, client time.Duration
	diskWrite      int64
}

// meter is a snapshot of the server's and this process's resource use.
type meter struct {
	pid   int
	start usage
}

func (s *server) meter() *meter {
	m := &meter{pid: s.cmd.Process.Pid}
	m.start = m.read()
	return m
}

func (m *meter) read() usage {
	var u usage
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", m.pid)); err == nil {
		if i := bytes.LastIndexByte(data, ')'); i > 0 {
			f := strings.Fields(string(data[i+1:]))
			if len(f) > 12 { // f[0] is field 3 (state); utime is 14, stime 15
				ut, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				u.server = time.Duration(ut+st) * time.Second / 100 // USER_HZ
			}
		}
	}
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", m.pid)); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
				u.diskWrite, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.client = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return u
}

func (m *meter) costs(records int) costs {
	if records <= 0 {
		return costs{}
	}
	u := m.read()
	n := float64(records)
	return costs{
		ServerCPUMsPerRecord: round(ms(u.server-m.start.server)/n, 4),
		ClientCPUMsPerRecord: round(ms(u.client-m.start.client)/n, 4),
		DiskWriteKBPerRecord: round(float64(u.diskWrite-m.start.diskWrite)/1024/n, 2),
	}
}

// ---------------------------------------------------------------- math

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}

func roundAll(xs []float64, places int) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = round(x, places)
	}
	return out
}

// pct is the nearest-rank percentile of sorted xs.
func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return pct(s, 50)
}

// removeProbe closes and deletes a probe file; a failure only leaves a
// file behind in the work folder, so it is logged.
func removeProbe(f *os.File) {
	if err := errors.Join(f.Close(), os.Remove(f.Name())); err != nil {
		logf("remove probe file: %v", err)
	}
}
