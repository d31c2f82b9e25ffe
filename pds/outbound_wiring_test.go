package pds

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bluesky-social/indigo/atproto/identity"

	"github.com/hearth-pds/hearth/pds/outbound"
)

// The default directory fetches DID documents through the outbound
// policy: the configured PLC is trusted even on loopback, any other
// (did:web) host must be public unless AllowPrivateNetwork is set.
func TestDefaultDirectoryUsesOutboundPolicy(t *testing.T) {
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "{}") }
	plc := httptest.NewServer(http.HandlerFunc(ok))
	defer plc.Close()
	web := httptest.NewServer(http.HandlerFunc(ok))
	defer web.Close()
	for _, tc := range []struct {
		name  string
		allow bool
		url   string
		ok    bool
	}{
		{"configured PLC on loopback", false, plc.URL, true},
		{"other loopback host", false, web.URL, false},
		{"other loopback host, private network allowed", true, web.URL, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{PLCURL: plc.URL, AllowPrivateNetwork: tc.allow}
			cfg.setDefaults()
			cache, isCache := cfg.Directory.(*identity.CacheDirectory)
			if !isCache {
				t.Fatalf("default directory is %T", cfg.Directory)
			}
			base := cache.Inner.(*identity.BaseDirectory)
			resp, err := base.HTTPClient.Get(tc.url)
			if err == nil {
				resp.Body.Close()
			}
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, outbound.ErrForbiddenAddress)) {
				t.Fatalf("GET %s: %v", tc.url, err)
			}
		})
	}
}
