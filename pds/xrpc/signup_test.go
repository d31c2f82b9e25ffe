package xrpc_test

import (
	"net/http"
	"testing"

	"github.com/hearth-pds/hearth/internal/testpds"
	"github.com/hearth-pds/hearth/pds/xrpc"
)

// OpenSignupDomains: handles under a listed suffix sign up without an
// invite; others (and every handle on a server without the option) still
// need one.
func TestOpenSignupDomains(t *testing.T) {
	open := testpds.StartWithOptions(t, nil, xrpc.Options{OpenSignupDomains: []string{".test"}})
	closed := testpds.Start(t, nil)
	tests := []struct {
		name   string
		p      *testpds.PDS
		handle string
		status int
	}{
		{"open, under .test", open, "zoe.test", http.StatusOK},
		{"open, upper case", open, "ZED.TEST", http.StatusOK},
		{"open, elsewhere", open, "zoe.example.com", http.StatusBadRequest},
		{"open, a domain merely ending in test", open, "zoe.latest", http.StatusBadRequest},
		{"closed", closed, "zoe.test", http.StatusBadRequest},
	}
	for _, tc := range tests {
		body := mustJSON(t, map[string]any{"handle": tc.handle, "password": "a-password-1"})
		st, _, b := raw(t, "POST", tc.p.URL+"/xrpc/com.atproto.server.createAccount", "", "application/json", body)
		if st != tc.status {
			t.Errorf("%s: %d %s", tc.name, st, b)
		}
		if tc.status != http.StatusOK {
			xrpcErr(t, st, b, http.StatusBadRequest, "InvalidInviteCode")
		}
	}
}
