package app

import (
	"net/http"
	"strings"
	"testing"
)

// The window reaches the engine in process and never checks a password:
// with the login throttle tripped for the account on the loopback port,
// the window still posts and reads.
func TestWindowWorksWhileLoginThrottled(t *testing.T) {
	a, _ := startApp(t)
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	st, err := a.Status()
	if err != nil {
		t.Fatal(err)
	}
	status := 0
	for i := 0; i < 11; i++ {
		resp, err := http.Post(st.LocalURL+"/xrpc/com.atproto.server.createSession", "application/json",
			strings.NewReader(`{"identifier":"me.test","password":"not-my-password"}`))
		if err != nil {
			t.Fatal(err)
		}
		status = resp.StatusCode
		_ = resp.Body.Close()
	}
	if status != http.StatusTooManyRequests {
		t.Fatalf("throttle not tripped: last status %d", status)
	}
	p, err := a.Post(PostInput{Text: "still here"})
	if err != nil || p.ValidationStatus != "valid" {
		t.Fatalf("window post while throttled: %+v %v", p, err)
	}
	if acc, err := a.Account(); err != nil || acc == nil {
		t.Fatalf("window account while throttled: %v %v", acc, err)
	}
}
