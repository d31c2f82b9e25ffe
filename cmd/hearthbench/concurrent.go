package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// concurrentResult is the group-commit figure: createRecord throughput of
// one client against that of many clients at once, each on its own account
// (an account's writes are serialised by its lock; different accounts'
// commits share transactions and fsyncs).
type concurrentResult struct {
	Clients int `json:"clients"`
	Writes  int `json:"writes_per_run"`
	// OneClientPerS are the one-client runs before and after the
	// concurrent run (the machine is shared: both show the drift).
	OneClientPerS   []float64 `json:"one_client_per_s"`
	ManyClientsPerS float64   `json:"many_clients_per_s"`
	// Ratio is ManyClientsPerS over the mean of OneClientPerS.
	Ratio float64 `json:"ratio"`
	// ServerCPUMs is the server's CPU per write: one client, then many.
	ServerCPUMs []float64 `json:"server_cpu_ms_per_write"`
}

// concurrentWriters starts a fresh hearthd holding clients accounts and
// times writes createRecords by one client, then by clients clients at
// once, then by one client again.
func (b *bench) concurrentWriters(clients, writes int) (res *concurrentResult, err error) {
	dir := filepath.Join(b.cfg.workDir, "concurrent")
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dids := make([]string, clients)
	for i := range dids {
		if dids[i], err = b.createAccount(dir, port, fmt.Sprintf("w%d.bench.test", i)); err != nil {
			return nil, err
		}
	}
	s, err := b.startServer(dir, port)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, s.stop()) }()
	sessions := make([]*session, clients)
	for i := range sessions {
		if sessions[i], err = s.login(b.ctx, fmt.Sprintf("w%d.bench.test", i), dids[i]); err != nil {
			return nil, err
		}
	}
	res = &concurrentResult{Clients: clients, Writes: writes}
	var seq atomic.Int64
	run := func(n int) (perS, cpuMs float64, err error) {
		cpu0, cpuErr := procCPU(s.cmd.Process.Pid)
		t0 := time.Now()
		var wg sync.WaitGroup
		var next atomic.Int64
		errs := make([]error, n)
		for c := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(writes) {
					if err := sessions[c].createRecord(b.ctx, int(seq.Add(1))); err != nil {
						errs[c] = err
						return
					}
				}
			}()
		}
		wg.Wait()
		d := time.Since(t0)
		if err := errors.Join(errs...); err != nil {
			return 0, 0, err
		}
		if cpu1, err := procCPU(s.cmd.Process.Pid); err == nil && cpuErr == nil {
			cpuMs = round(ms(cpu1-cpu0)/float64(writes), 3)
		}
		return round(float64(writes)/d.Seconds(), 1), cpuMs, nil
	}
	for i, n := range []int{1, clients, 1} {
		logf("concurrent writers: %d client(s), %d createRecords", n, writes)
		perS, cpuMs, err := run(n)
		if err != nil {
			return nil, fmt.Errorf("%d clients: %w", n, err)
		}
		if i == 1 {
			res.ManyClientsPerS = perS
		} else {
			res.OneClientPerS = append(res.OneClientPerS, perS)
		}
		if i < 2 {
			res.ServerCPUMs = append(res.ServerCPUMs, cpuMs)
		}
	}
	if one := (res.OneClientPerS[0] + res.OneClientPerS[1]) / 2; one > 0 {
		res.Ratio = round(res.ManyClientsPerS/one, 2)
	}
	return res, nil
}
