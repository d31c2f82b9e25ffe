package app

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestSecondWindowOnAFolderExplainsAndOpensNoEngine starts a second app on
// a folder the first one holds: it opens no engine, and the start screen's
// StartError (and every binding) says the folder is in use and by which pid.
func TestSecondWindowOnAFolderExplainsAndOpensNoEngine(t *testing.T) {
	first, _ := startApp(t)
	if msg := first.StartError(); msg != "" {
		t.Fatalf("first app reports %q", msg)
	}
	second := New(Config{DataDir: first.cfg.DataDir, PLCURL: first.cfg.PLCURL, KeyStore: "file"})
	if err := Start(context.Background(), second, &fakeUI{}); err == nil {
		Shutdown(context.Background(), second)
		t.Fatal("a second app opened an engine on a folder in use")
	}
	want := fmt.Sprintf("data folder %s is in use by another Hearth process (pid %d); stop it first", first.cfg.DataDir, os.Getpid())
	if got := second.StartError(); !strings.Contains(got, want) {
		t.Fatalf("StartError = %q, want it to say %q", got, want)
	}
	if _, err := second.Status(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Status: %v", err)
	}
	if _, err := first.Status(); err != nil {
		t.Fatalf("the first app stopped working: %v", err)
	}
}
