package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-pds/hearth/internal/plcdir"
)

func startAppWith(t *testing.T, tweak func(*Config)) *App {
	t.Helper()
	plc := httptest.NewServer(plcdir.New())
	t.Cleanup(plc.Close)
	cfg := Config{DataDir: filepath.Join(t.TempDir(), "data"), PLCURL: plc.URL, KeyStore: "file"}
	tweak(&cfg)
	a := New(cfg)
	if err := Start(context.Background(), a, &fakeUI{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Shutdown(context.Background(), a) })
	return a
}

// xrpcCall makes one XRPC call on the app's local URL, as any client does.
func xrpcCall(t *testing.T, a *App, method, nsid, token string, body any) (int, map[string]any) {
	t.Helper()
	st, err := a.Status()
	if err != nil {
		t.Fatal(err)
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, st.LocalURL+"/xrpc/"+nsid, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out) // empty bodies stay empty
	return resp.StatusCode, out
}

func login(t *testing.T, a *App, id, pw string) (int, string) {
	t.Helper()
	st, out := xrpcCall(t, a, "POST", "com.atproto.server.createSession", "", map[string]any{"identifier": id, "password": pw})
	tok, _ := out["accessJwt"].(string)
	return st, tok
}

func pngOf(t *testing.T, w, h int) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		img.Set(x, x%h, color.RGBA{200, 30, 30, 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func TestAccountSettingsProfile(t *testing.T) {
	a := startAppWith(t, func(*Config) {})
	acc, err := a.CreateAccount("me.test", "password123", "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.GetAccountSettings()
	if err != nil || s.Profile.CID != "" || s.Handle != "me.test" || !s.Active || s.BlueskyURL != "" || s.EmailNote == "" {
		t.Fatalf("fresh settings %+v %v", s, err)
	}
	avatar, err := a.UploadBlob("image/png", pngOf(t, 40, 40))
	if err != nil {
		t.Fatal(err)
	}
	banner, err := a.UploadBlob("image/png", pngOf(t, 120, 40))
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.SaveProfile(ProfileInput{DisplayName: " Me ", Description: "Hello from Hearth", Avatar: avatar, Banner: banner})
	if err != nil {
		t.Fatalf("save profile: %v", err)
	}
	// Apps read it over XRPC.
	st, rec := xrpcCall(t, a, "GET", "com.atproto.repo.getRecord?repo="+acc.DID+"&collection=app.bsky.actor.profile&rkey=self", "", nil)
	v, _ := rec["value"].(map[string]any)
	av, _ := v["avatar"].(map[string]any)
	ref, _ := av["ref"].(map[string]any)
	if st != 200 || v["displayName"] != "Me" || v["description"] != "Hello from Hearth" || ref["$link"] != avatar.CID || v["banner"] == nil || rec["cid"] != res.CID {
		t.Fatalf("profile over XRPC: %d %v", st, rec)
	}
	// An app adds a field; the screen's next save keeps it, and a save from
	// a stale screen is refused instead of overwriting.
	_, tok := login(t, a, "me.test", "password123")
	v["pinnedPost"] = map[string]any{"uri": "at://" + acc.DID + "/app.bsky.feed.post/3l", "cid": res.CID}
	if st, out := xrpcCall(t, a, "POST", "com.atproto.repo.putRecord", tok, map[string]any{"repo": acc.DID, "collection": "app.bsky.actor.profile", "rkey": "self", "record": v}); st != 200 {
		t.Fatalf("putRecord: %d %v", st, out)
	}
	if _, err := a.SaveProfile(ProfileInput{DisplayName: "Stale", BaseCID: res.CID}); err == nil || !strings.Contains(err.Error(), "changed elsewhere") {
		t.Fatalf("stale save: %v", err)
	}
	s, _ = a.GetAccountSettings()
	if s.Profile.DisplayName != "Me" || s.Profile.Avatar == nil || s.Profile.Avatar.CID != avatar.CID || !strings.Contains(s.Profile.AvatarURL, avatar.CID) {
		t.Fatalf("profile read back: %+v", s.Profile)
	}
	if _, err := a.SaveProfile(ProfileInput{DisplayName: "Me again", Avatar: s.Profile.Avatar, BaseCID: s.Profile.CID}); err != nil {
		t.Fatal(err)
	}
	_, rec = xrpcCall(t, a, "GET", "com.atproto.repo.getRecord?repo="+acc.DID+"&collection=app.bsky.actor.profile&rkey=self", "", nil)
	v, _ = rec["value"].(map[string]any)
	if v["displayName"] != "Me again" || v["pinnedPost"] == nil || v["banner"] != nil || v["avatar"] == nil {
		t.Fatalf("second save: %v", v)
	}
	// Bad input is a clear error and leaves the record alone.
	if _, err := a.SaveProfile(ProfileInput{DisplayName: strings.Repeat("x", 700), BaseCID: rec["cid"].(string)}); err == nil {
		t.Fatal("a 700-character display name was accepted")
	}
}

func TestAccountSettingsCredentials(t *testing.T) {
	a := startAppWith(t, func(c *Config) { c.UserDomains = []string{".test"} })
	acc, err := a.CreateAccount("me.test", "password123", "")
	if err != nil {
		t.Fatal(err)
	}
	// Handle: another .test handle is this PDS's to give.
	if info, err := a.ChangeHandle("@Me2.test"); err != nil || info.Handle != "me2.test" {
		t.Fatalf("change handle: %+v %v", info, err)
	}
	if st, out := xrpcCall(t, a, "GET", "com.atproto.identity.resolveHandle?handle=me2.test", "", nil); st != 200 || out["did"] != acc.DID {
		t.Fatalf("resolveHandle: %d %v", st, out)
	}
	if _, err := a.ChangeHandle("not a handle"); err == nil {
		t.Fatal("bad handle accepted")
	}

	// Password.
	if err := a.ChangePassword("wrong-password", "new-password-1"); err == nil {
		t.Fatal("wrong current password accepted")
	}
	if err := a.ChangePassword("password123", "short"); err == nil {
		t.Fatal("short password accepted")
	}
	if err := a.ChangePassword("password123", "new-password-1"); err != nil {
		t.Fatal(err)
	}
	if st, _ := login(t, a, "me2.test", "password123"); st != 401 {
		t.Fatalf("old password still logs in: %d", st)
	}
	st, tok := login(t, a, "me2.test", "new-password-1")
	if st != 200 {
		t.Fatalf("new password: %d", st)
	}

	// App passwords.
	ap, err := a.CreateAppPassword("phone", true)
	if err != nil || ap.Password == "" || !ap.Privileged {
		t.Fatalf("create app password: %+v %v", ap, err)
	}
	if _, err := a.CreateAppPassword("phone", false); err == nil {
		t.Fatal("duplicate app password name accepted")
	}
	s, _ := a.GetAccountSettings()
	if len(s.AppPasswords) != 1 || s.AppPasswords[0].Name != "phone" || !s.AppPasswords[0].Privileged {
		t.Fatalf("listed %+v", s.AppPasswords)
	}
	if st, _ := login(t, a, "me2.test", ap.Password); st != 200 {
		t.Fatalf("app password login: %d", st)
	}
	if err := a.RevokeAppPassword("phone"); err != nil {
		t.Fatal(err)
	}
	if st, _ := login(t, a, "me2.test", ap.Password); st != 401 {
		t.Fatalf("revoked app password logs in: %d", st)
	}

	// Email: set, confirmed and changed through the outbox, as over XRPC.
	if _, err := a.SetEmail("not-an-email", ""); err == nil {
		t.Fatal("bad email accepted")
	}
	if needs, err := a.SetEmail("Me@Example.com", ""); err != nil || needs {
		t.Fatalf("set email: %v %v", needs, err)
	}
	if st, out := xrpcCall(t, a, "GET", "com.atproto.server.getSession", tok, nil); st != 200 || out["email"] != "me@example.com" || out["emailConfirmed"] != false {
		t.Fatalf("getSession: %d %v", st, out)
	}
	code := func(purpose string) string {
		t.Helper()
		s, err := a.GetAccountSettings()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range s.Outbox {
			if m.Purpose == purpose && !m.Expired {
				return m.Token
			}
		}
		t.Fatalf("no %s code in the outbox: %+v", purpose, s.Outbox)
		return ""
	}
	if err := a.RequestEmailConfirmation(); err != nil {
		t.Fatal(err)
	}
	if err := a.ConfirmEmail("WRONG-CODE"); err == nil {
		t.Fatal("a wrong code confirmed the email")
	}
	if err := a.ConfirmEmail(code("confirm_email")); err != nil {
		t.Fatal(err)
	}
	if st, out := xrpcCall(t, a, "GET", "com.atproto.server.getSession", tok, nil); st != 200 || out["emailConfirmed"] != true {
		t.Fatalf("getSession after confirming: %d %v", st, out)
	}
	if needs, err := a.SetEmail("new@example.com", ""); err != nil || !needs {
		t.Fatalf("changing a confirmed email must ask for a code: %v %v", needs, err)
	}
	if _, err := a.SetEmail("new@example.com", "WRONG-CODE"); err == nil {
		t.Fatal("changed with a wrong code")
	}
	if _, err := a.SetEmail("new@example.com", code("update_email")); err != nil {
		t.Fatal(err)
	}
	if s, _ := a.GetAccountSettings(); s.Email != "new@example.com" || s.EmailConfirmed {
		t.Fatalf("after the change: %s confirmed=%v", s.Email, s.EmailConfirmed)
	}

	// Deactivate and reactivate.
	post := map[string]any{"repo": acc.DID, "collection": "app.bsky.feed.post", "record": map[string]any{"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2026-01-01T00:00:00Z"}}
	if err := a.SetAccountActive(false); err != nil {
		t.Fatal(err)
	}
	if st, out := xrpcCall(t, a, "POST", "com.atproto.repo.createRecord", tok, post); st == 200 {
		t.Fatalf("deactivated account wrote: %v", out)
	}
	if s, _ := a.GetAccountSettings(); s.Active || s.Status != "deactivated" {
		t.Fatalf("status %+v", s)
	}
	if err := a.SetAccountActive(true); err != nil {
		t.Fatal(err)
	}
	if st, out := xrpcCall(t, a, "POST", "com.atproto.repo.createRecord", tok, post); st != 200 {
		t.Fatalf("reactivated account: %d %v", st, out)
	}

	// Delete, behind the typed handle and the password.
	if err := a.DeleteAccount("me.test", "new-password-1"); err == nil {
		t.Fatal("deleted with the wrong handle typed")
	}
	if err := a.DeleteAccount("me2.test", "password123"); err == nil {
		t.Fatal("deleted with the old password")
	}
	if acc, _ := a.Account(); acc == nil {
		t.Fatal("account gone after refused deletes")
	}
	if err := a.DeleteAccount("@me2.test", "new-password-1"); err != nil {
		t.Fatal(err)
	}
	if acc, err := a.Account(); acc != nil || err != nil {
		t.Fatalf("after delete: %+v %v", acc, err)
	}
	if st, _ := xrpcCall(t, a, "GET", "com.atproto.repo.describeRepo?repo="+acc.DID, "", nil); st != 400 {
		t.Fatalf("describeRepo after delete: %d", st)
	}
}
