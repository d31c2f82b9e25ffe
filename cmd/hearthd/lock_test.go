package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSecondHearthdOnAFolderExitsAtOnce runs a real hearthd serve and then
// a second serve and a writing subcommand on the same folder: each exits
// non-zero, naming the folder and the first process's pid, without waiting
// for it.
func TestSecondHearthdOnAFolderExitsAtOnce(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	url := fmt.Sprintf("http://localhost:%d", port)
	common := []string{"--data-dir", dir, "--public-url", url, "--plc-url", "http://127.0.0.1:9"}
	first := child(t, nil, append([]string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, common...)...)
	first.Stderr = io.Discard
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = first.Process.Kill() // the child this test started, by its own handle
		_ = first.Wait()
	})
	waitReady(t, url)
	want := fmt.Sprintf("hearthd: data folder %s is in use by another Hearth process (pid %d); stop it first", dir, first.Process.Pid)
	for _, args := range [][]string{
		append([]string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t))}, common...),
		append([]string{"account", "create", "--handle", "second.test", "--password", "second-pw-1"}, common...),
		append([]string{"invite", "create"}, common...),
	} {
		t.Run(args[0]+" "+args[1], func(t *testing.T) {
			// The deadline only stops a hang from blocking the suite; the
			// time taken is logged, not asserted.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := child(t, nil, args...)
			second := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
			second.Env = cmd.Env
			var stderr bytes.Buffer
			second.Stderr = &stderr
			start := time.Now()
			err := second.Run()
			t.Logf("second process exited after %s", time.Since(start).Round(time.Millisecond))
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("second process: %v (want exit status 1)\n%s", err, stderr.String())
			}
			if got := strings.TrimSpace(stderr.String()); got != want {
				t.Fatalf("second process said %q, want %q", got, want)
			}
		})
	}
}
