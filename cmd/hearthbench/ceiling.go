package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"
)

// The HTTP + fsync ceiling: what sequential createRecord could reach on this
// machine if the PDS did nothing but one durable 4 KiB write per request.
// A child process (this binary, re-run with ceilingServerArg) serves every
// POST with one pwrite + fdatasync on a file in the work dir and a
// createRecord-sized JSON answer; this process calls it the way it calls
// createRecord, with the same body size and the same HTTP client. Its ratio to
// fsync_floor_per_s bounds what any PDS reached over HTTP can score.

const ceilingServerArg = "--internal-ceiling-server"

type ceilingResult struct {
	Requests          int     `json:"requests"`
	RequestsPerS      float64 `json:"requests_per_s"`
	P50Ms             float64 `json:"p50_ms"`
	P99Ms             float64 `json:"p99_ms"`
	RatioToFsyncFloor float64 `json:"ratio_to_fsync_floor"`
	Note              string  `json:"note"`
}

// runCeilingServer is the child: it prints its address and serves until
// stdin closes.
func runCeilingServer(dir string) error {
	f, err := os.CreateTemp(dir, "ceiling-probe-*")
	if err != nil {
		return err
	}
	defer removeProbe(f)
	const blocks = 256
	buf := make([]byte, 4096)
	rand.Read(buf)
	if _, err := f.Write(bytes.Repeat(buf, blocks)); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	fd := int(f.Fd())
	n := 0
	answer := []byte(`{"uri":"at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.feed.post/3n2vaaaaaaaaa","cid":"bafyreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","commit":{"cid":"bafyreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","rev":"3n2vaaaaaaaaa"},"validationStatus":"valid"}`)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		buf[0] = byte(n)
		if _, err := f.WriteAt(buf, int64(n%blocks)*4096); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := syscall.Fdatasync(fd); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		n++ // one request at a time: the client is sequential
		w.Header().Set("Content-Type", "application/json")
		if _, err := w.Write(answer); err != nil {
			logf("ceiling server: answer: %v", err)
		}
	})}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("ceiling server: %v", err)
		}
	}()
	fmt.Println(ln.Addr().String())
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
		return errors.Join(fmt.Errorf("ceiling server: read stdin: %w", err), srv.Close())
	}
	return srv.Close()
}

// httpFsyncCeiling starts the child and times n sequential requests.
func httpFsyncCeiling(ctx context.Context, dir string, n int, floor float64) (_ *ceilingResult, err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, ceilingServerArg, dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		// Closing stdin stops the child; a failure of either is the
		// measurement's failure too.
		err = errors.Join(err, stdin.Close(), cmd.Wait())
	}()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("ceiling server did not start: %w", err)
	}
	s := &server{base: "http://" + strings.TrimSpace(addr)}
	body := make([]byte, 0, 512)
	body = append(body, `{"repo":"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa","collection":"app.bsky.feed.post","record":`...)
	body = appendPost(body, 0)
	body = append(body, '}')
	call := func() error {
		_, err := s.do(ctx, "POST", "com.atproto.repo.createRecord", "", "token", "application/json", body, nil)
		return err
	}
	for i := 0; i < 50; i++ { // warm-up
		if err := call(); err != nil {
			return nil, err
		}
	}
	lat := make([]float64, 0, n)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		t := time.Now()
		if err := call(); err != nil {
			return nil, err
		}
		lat = append(lat, ms(time.Since(t)))
	}
	el := time.Since(t0).Seconds()
	sort.Float64s(lat)
	r := &ceilingResult{Requests: n, RequestsPerS: round(float64(n)/el, 1), P50Ms: round(pct(lat, 50), 3), P99Ms: round(pct(lat, 99), 3),
		Note: "a server doing only one 4 KiB pwrite+fdatasync per request, called like create_record: the most any PDS could reach over HTTP here"}
	if floor > 0 {
		r.RatioToFsyncFloor = round(r.RequestsPerS/floor, 3)
	}
	return r, nil
}
