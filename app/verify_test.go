package app

import (
	"strings"
	"testing"
)

// The window's "Verify everything" runs the engine's full check and
// reports what it found.
func TestVerifyData(t *testing.T) {
	a, _ := startApp(t)
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	for _, txt := range []string{"one", "two"} {
		if _, err := a.Post(PostInput{Text: txt}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := a.VerifyData()
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || len(rep.Accounts) != 1 || rep.Accounts[0].Records != 2 || !strings.Contains(rep.String(), "everything verifies") {
		t.Fatalf("report: %+v\n%s", rep, rep)
	}
}
