package xrpc_test

import (
	"testing"

	"github.com/bluesky-social/indigo/atproto/atclient"
)

// checkValidDID asserts checkAccountStatus's validDid for c's account
// (TestMoveOut checks it at every step of a move).
func checkValidDID(t *testing.T, step string, c *atclient.APIClient, want bool) {
	t.Helper()
	var st struct {
		ValidDid *bool `json:"validDid"`
	}
	if err := c.Get(ctx, "com.atproto.server.checkAccountStatus", nil, &st); err != nil {
		t.Fatalf("%s: checkAccountStatus: %v", step, err)
	}
	switch {
	case st.ValidDid == nil:
		t.Errorf("%s: checkAccountStatus has no validDid", step)
	case *st.ValidDid != want:
		t.Errorf("%s: checkAccountStatus validDid = %v, want %v", step, *st.ValidDid, want)
	}
}
