package edge

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestClientAddr(t *testing.T) {
	for _, tc := range []struct {
		name    string
		remote  string
		xff     []string
		tunnel  bool
		want    string
		limited bool
		key     string
	}{
		{"direct loopback", "127.0.0.1:5000", nil, false, "127.0.0.1", false, "127.0.0.1"},
		{"direct loopback v6", "[::1]:5000", nil, false, "::1", false, "::/64"},
		{"direct ignores X-Forwarded-For", "127.0.0.1:5000", []string{"203.0.113.1"}, false, "127.0.0.1", false, "127.0.0.1"},
		{"direct LAN peer", "192.168.1.20:5000", []string{"127.0.0.1"}, false, "192.168.1.20", true, "192.168.1.20"},
		{"tunnel with the client's address", "198.51.100.7:443", []string{"203.0.113.1"}, true, "198.51.100.7", true, "198.51.100.7"},
		{"tunnel via a local agent: last X-Forwarded-For", "127.0.0.1:5000", []string{"10.0.0.1, 203.0.113.1", "203.0.113.2"}, true, "203.0.113.2", true, "203.0.113.2"},
		{"tunnel loopback, junk X-Forwarded-For", "127.0.0.1:5000", []string{"not an ip"}, true, "127.0.0.1", true, "127.0.0.1"},
		{"tunnel v6 client keyed by /64", "[2001:db8:1:2:3:4:5:6]:443", nil, true, "2001:db8:1:2:3:4:5:6", true, "2001:db8:1:2::/64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if tc.tunnel {
				r = r.WithContext(ViaTunnel(r.Context()))
			}
			c := ClientAddr(r)
			if c.Addr != tc.want || c.Tunnel != tc.tunnel || c.Limited() != tc.limited || c.Key() != tc.key {
				t.Fatalf("got %+v limited=%v key=%s", c, c.Limited(), c.Key())
			}
		})
	}
}

func TestServerLimits(t *testing.T) {
	for _, s := range []*http.Server{NewServer(http.NotFoundHandler()), NewTunnelServer(http.NotFoundHandler())} {
		if s.ReadHeaderTimeout != 10*time.Second || s.IdleTimeout != 60*time.Second || s.MaxHeaderBytes != 32<<10 ||
			s.ReadTimeout != 0 || s.WriteTimeout != 0 {
			t.Fatalf("server limits %+v", s)
		}
	}
}

// serve runs a server with limits l on a loopback port.
func serve(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }() // ends with Close below
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// An idle keep-alive connection is closed after IdleTimeout, and a client
// that never finishes its headers after ReadHeaderTimeout.
func TestIdleAndHeaderTimeouts(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if FromTunnel(r) {
			w.Header().Set("X-Tunnel", "yes")
		}
		_, _ = io.WriteString(w, "ok")
	})
	addr := serve(t, NewServerWith(h, Limits{ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond, MaxHeaderBytes: 4096}))
	for _, tc := range []struct {
		name  string
		write string
		reply bool
	}{
		{"idle keep-alive", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"headers never finished", "GET / HTTP/1.1\r\nHost: x\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = conn.Close() }()
			if _, err := io.WriteString(conn, tc.write); err != nil {
				t.Fatal(err)
			}
			if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			if tc.reply {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
			// The server must close the connection (EOF), not our deadline.
			_, err = br.ReadByte()
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept the connection open")
			}
		})
	}
	// The tunnel's server marks its requests.
	taddr := serve(t, NewTunnelServer(h))
	resp, err := http.Get(fmt.Sprintf("http://%s/", taddr))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.Header.Get("X-Tunnel") != "yes" {
		t.Fatal("tunnel request not marked")
	}
}
