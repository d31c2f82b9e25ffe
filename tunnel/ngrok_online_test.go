package tunnel_test

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/hearth-pds/hearth/tunnel"
)

// TestNgrokOnline opens a real ngrok tunnel. It needs NGROK_AUTHTOKEN and
// internet access, so it is skipped on CI and on machines without either.
func TestNgrokOnline(t *testing.T) {
	if os.Getenv("NGROK_AUTHTOKEN") == "" {
		t.Skip("NGROK_AUTHTOKEN is not set: skipping the online ngrok smoke test (set it to run it)")
	}
	rec := newRecorder()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := w.Write([]byte("hearth-smoke")); err != nil {
			t.Errorf("answer: %v", err)
		}
	})
	m := tunnel.NewManager(&tunnel.Ngrok{Domain: os.Getenv("NGROK_DOMAIN")}, h, tunnel.Options{StartTimeout: 30 * time.Second, OnStatus: rec.on})
	m.Start()
	defer m.Stop()
	on := rec.waitFor(t, tunnel.Online)
	if got := get(t, on.URL+"/"); got != "hearth-smoke" {
		t.Fatalf("through ngrok got %q", got)
	}
}
