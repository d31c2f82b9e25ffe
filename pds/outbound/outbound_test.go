package outbound

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

func TestIsPublic(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"2606:4700:4700::1111", true},
		{"2002:0808:0808::1", true}, // 6to4 of a public address
		{"127.0.0.1", false},
		{"127.255.0.9", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"100.64.0.1", false},      // CGNAT
		{"100.127.255.254", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
		{"192.0.0.8", false},
		{"192.0.2.1", false},
		{"198.18.0.1", false},
		{"198.51.100.7", false},
		{"203.0.113.7", false},
		{"::", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false}, // IPv4-mapped loopback
		{"::ffff:10.0.0.1", false},
		{"::ffff:8.8.8.8", true},
		{"::127.0.0.1", false}, // IPv4-compatible (deprecated)
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"64:ff9b::7f00:1", false}, // NAT64 of loopback
		{"100::1", false},
		{"2001::1", false}, // Teredo
		{"2001:db8::1", false},
		{"3fff::1", false},
		{"2002:7f00:0001::1", false}, // 6to4 of 127.0.0.1
		{"2002:0a00:0001::1", false}, // 6to4 of 10.0.0.1
	} {
		a := netip.MustParseAddr(tc.addr)
		if got := IsPublic(a); got != tc.public {
			t.Errorf("IsPublic(%s) = %v, want %v", tc.addr, got, tc.public)
		}
		err := CheckAddr(a)
		if (err == nil) != tc.public || (err != nil && !errors.Is(err, ErrForbiddenAddress)) {
			t.Errorf("CheckAddr(%s) = %v", tc.addr, err)
		}
	}
}

// The dial hook judges the address the dialer is about to connect to, in
// every spelling the dialer may hand it.
func TestDialControl(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"8.8.8.8:443", true},
		{"[2606:4700:4700::1111]:443", true},
		{"127.0.0.1:80", false},
		{"[::1]:80", false},
		{"[::ffff:127.0.0.1]:80", false},
		{"[::ffff:7f00:1]:80", false},
		{"[fe80::1%eth0]:80", false},
		{"10.0.0.1:443", false},
		{"not-an-address", false},
	} {
		err := dialControl("tcp", tc.addr, nil)
		if (err == nil) != tc.ok {
			t.Errorf("dialControl(%s) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}

func serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func hello(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") }

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestClientAddressRule(t *testing.T) {
	srv := serve(t, hello)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	byName := "http://localhost:" + port + "/" // a name that resolves to loopback
	for _, tc := range []struct {
		name   string
		policy Policy
		url    string
		ok     bool
	}{
		{"loopback IP refused", Policy{}, srv.URL, false},
		{"name resolving to loopback refused", Policy{}, byName, false},
		{"loopback allowed with AllowPrivateNetwork", Policy{AllowPrivateNetwork: true}, srv.URL, true},
		{"name allowed with AllowPrivateNetwork", Policy{AllowPrivateNetwork: true}, byName, true},
		{"trusted origin skips the rule", Policy{Trusted: []string{srv.URL + "/"}}, srv.URL, true},
		{"trust is per origin", Policy{Trusted: []string{srv.URL}}, byName, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := get(tc.policy.Client(), tc.url)
			if tc.ok {
				if err != nil || body != "hello" {
					t.Fatalf("got %q, %v", body, err)
				}
				return
			}
			if !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("want ErrForbiddenAddress, got %q, %v", body, err)
			}
		})
	}
}

func TestClientRefusesRedirects(t *testing.T) {
	var followed atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/target" {
			followed.Add(1)
			hello(w, r)
			return
		}
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	_, err := get(Policy{AllowPrivateNetwork: true}.Client(), srv.URL+"/start")
	if !errors.Is(err, ErrRedirect) || followed.Load() != 0 {
		t.Fatalf("redirect: err %v, followed %d times", err, followed.Load())
	}
}

func TestClientBoundsBody(t *testing.T) {
	const limit = 1000
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		n := limit
		switch r.URL.Path {
		case "/over":
			n = limit + 1
		case "/huge":
			n = 10 * limit
		}
		if r.URL.Query().Get("length") == "" {
			w.Header().Set("Transfer-Encoding", "chunked") // no Content-Length: only the reader can stop it
		}
		_, _ = w.Write([]byte(strings.Repeat("x", n)))
	})
	c := Policy{AllowPrivateNetwork: true, MaxBody: limit}.Client()
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/exact", true},
		{"/over", false},
		{"/huge", false},
		{"/exact?length=1", true},
		{"/over?length=1", false},
		{"/huge?length=1", false},
	} {
		body, err := get(c, srv.URL+tc.path)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrTooLarge)) || len(body) > limit {
			t.Errorf("%s: %d bytes, %v", tc.path, len(body), err)
		}
	}
}

// HTTP_PROXY from the environment is never used: the address rule has to
// see the real peer, and an environment proxy would be an unchecked hop.
func TestClientIgnoresEnvironmentProxy(t *testing.T) {
	var hits atomic.Int32
	proxy := serve(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		hello(w, r)
	})
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	// A name that does not resolve: only a proxy could answer it.
	_, err := get(Policy{AllowPrivateNetwork: true}.Client(), "http://hearth-outbound-test.invalid/")
	if err == nil || hits.Load() != 0 {
		t.Fatalf("went through the environment proxy: err %v, proxy hits %d", err, hits.Load())
	}
}

func TestClientSendsOwnUserAgent(t *testing.T) {
	ua := make(chan string, 1)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) { ua <- r.UserAgent() })
	if _, err := get(Policy{AllowPrivateNetwork: true}.Client(), srv.URL); err != nil {
		t.Fatal(err)
	}
	if got := <-ua; got != DefaultUserAgent {
		t.Fatalf("User-Agent %q", got)
	}
}
