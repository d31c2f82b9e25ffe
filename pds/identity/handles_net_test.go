package identity

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hearth-pds/hearth/pds/outbound"
)

// Handle well-known fetches go through the outbound policy.
func TestNetworkHandleResolverUsesOutboundPolicy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	for _, tc := range []struct {
		allow bool
		ok    bool
	}{{false, false}, {true, true}} {
		r := NewNetworkHandleResolver(outbound.Policy{AllowPrivateNetwork: tc.allow})
		resp, err := r.dir.HTTPClient.Get(srv.URL + "/.well-known/atproto-did")
		if err == nil {
			resp.Body.Close()
		}
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, outbound.ErrForbiddenAddress)) {
			t.Errorf("allow=%v: %v", tc.allow, err)
		}
	}
}
