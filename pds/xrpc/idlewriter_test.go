package xrpc

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestIdleWriterCutsStalledDownloads: a download whose client reads
// nothing fails once a write has waited idle, so the export behind it ends;
// a client that reads gets everything.
func TestIdleWriterCutsStalledDownloads(t *testing.T) {
	const size = 16 << 20 // far beyond socket buffers
	chunk := bytes.Repeat([]byte("x"), 256<<10)
	ended := make(chan error, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		iw := newIdleWriter(w, 300*time.Millisecond)
		var err error
		for n := 0; n < size && err == nil; n += len(chunk) {
			_, err = iw.Write(chunk)
		}
		ended <- err
	}))
	t.Cleanup(srv.Close)

	for _, c := range []struct {
		name    string
		read    bool
		wantErr bool
	}{{"reading client", true, false}, {"stalled client", false, true}} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = conn.Close() }() // the download's end is the result
			if !c.read {
				if err := conn.(*net.TCPConn).SetReadBuffer(8 << 10); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			if c.read {
				go func() {
					buf := make([]byte, 64<<10)
					for {
						if _, err := conn.Read(buf); err != nil {
							return
						}
					}
				}()
			}
			select {
			case err := <-ended:
				if (err != nil) != c.wantErr {
					t.Fatalf("download ended with %v, want error: %v", err, c.wantErr)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the download never ended")
			}
		})
	}
}
