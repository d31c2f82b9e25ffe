package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The Developer screen's URLs are the running PDS's: its /subscribe
// answers (a post made in the window arrives there as Jetstream JSON).
func TestDeveloperInfoURLsServe(t *testing.T) {
	a, _ := startApp(t)
	if _, err := a.CreateAccount("me.test", "password123", ""); err != nil {
		t.Fatal(err)
	}
	info, err := a.DeveloperInfo()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.XRPCURL, "http://localhost:") || info.JetstreamURL != "ws"+strings.TrimPrefix(info.XRPCURL, "http")+"/subscribe" ||
		info.PublicJetstreamURL != "" || info.PLCURL == "" {
		t.Fatalf("info = %+v", info)
	}
	ws, _, err := websocket.DefaultDialer.Dial(info.JetstreamURL+"?wantedCollections=app.bsky.feed.post&cursor=0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.Close() }()
	if _, err := a.Post(PostInput{Text: "hello developers"}); err != nil {
		t.Fatal(err)
	}
	for {
		if err := ws.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		var e struct {
			Kind   string `json:"kind"`
			Commit *struct {
				Record json.RawMessage `json:"record"`
			} `json:"commit"`
		}
		if err := ws.ReadJSON(&e); err != nil {
			t.Fatal(err)
		}
		if e.Commit != nil && strings.Contains(string(e.Commit.Record), "hello developers") {
			return
		}
	}
}

func TestWSURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://localhost:2583":    "ws://localhost:2583",
		"https://pds.example.com/": "wss://pds.example.com",
		"https://x.ngrok.app":      "wss://x.ngrok.app",
	} {
		if got := wsURL(in); got != want {
			t.Errorf("wsURL(%q) = %q, want %q", in, got, want)
		}
	}
}
