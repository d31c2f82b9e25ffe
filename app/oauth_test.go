package app

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hearth-pds/hearth/internal/oauthtest"
	"github.com/hearth-pds/hearth/pds/oauth"
)

// TestConnectedApps: an app signed in over OAuth (through the window's own
// loopback port) is listed with its permissions in plain language, when it
// was last used and when its sign-in ends; Revoke signs it out at once.
func TestConnectedApps(t *testing.T) {
	a, _ := startApp(t)
	if _, err := a.CreateAccount("me.test", "password123", "me@example.com"); err != nil {
		t.Fatal(err)
	}
	if apps, err := a.ConnectedApps(); err != nil || len(apps) != 0 {
		t.Fatalf("fresh account: %v %v", apps, err)
	}
	st, err := a.Status()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	signIn := func(scope string) (*oauthtest.Client, *oauthtest.Session) {
		t.Helper()
		c, err := oauthtest.New(st.LocalURL, scope)
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.SignIn(ctx, "me.test", "password123", scope)
		if err != nil {
			t.Fatal(err)
		}
		return c, s
	}
	c1, s1 := signIn("atproto transition:generic")
	_, _ = signIn("atproto repo:xyz.statusphere.status")

	apps, err := a.ConnectedApps()
	if err != nil || len(apps) != 2 {
		t.Fatalf("apps: %+v %v", apps, err)
	}
	for _, c := range apps {
		if c.ID == "" || c.Name != "An app on this computer" || !c.Loopback || c.Site != "" || !strings.HasPrefix(c.ClientID, "http://localhost?") {
			t.Errorf("app identity: %+v", c)
		}
		signed, err1 := time.Parse(time.RFC3339, c.SignedInAt)
		used, err2 := time.Parse(time.RFC3339, c.LastUsedAt)
		ends, err3 := time.Parse(time.RFC3339, c.ExpiresAt)
		if err := errors.Join(err1, err2, err3); err != nil || used.Before(signed) || !ends.After(time.Now().Add(13*24*time.Hour)) {
			t.Errorf("app times: %+v %v", c, err)
		}
	}
	byScope := map[string]ConnectedApp{}
	for _, c := range apps {
		byScope[c.Scope] = c
	}
	generic, granular := byScope["atproto transition:generic"], byScope["atproto repo:xyz.statusphere.status"]
	if len(generic.Permissions) != 2 || !strings.Contains(strings.Join(generic.Permissions, "\n"), "like an app password") {
		t.Errorf("generic permissions: %q", generic.Permissions)
	}
	if !strings.Contains(strings.Join(granular.Permissions, "\n"), "records of xyz.statusphere.status") {
		t.Errorf("granular permissions: %q", granular.Permissions)
	}

	// The app works until it is revoked, then not at all.
	if status, out, err := c1.Call(ctx, "GET", "com.atproto.server.getSession", s1.Access, nil); err != nil || status != 200 {
		t.Fatalf("before revoke: %d %v %v", status, out, err)
	}
	left, err := a.RevokeConnectedApp(generic.ID)
	if err != nil || len(left) != 1 || left[0].ID != granular.ID {
		t.Fatalf("after revoke: %+v %v", left, err)
	}
	if status, out, err := c1.Call(ctx, "GET", "com.atproto.server.getSession", s1.Access, nil); err != nil || status != 401 {
		t.Fatalf("revoked app still signed in: %d %v %v", status, out, err)
	}
	if _, err := a.RevokeConnectedApp(generic.ID); !errors.Is(err, ErrNoSuchApp) {
		t.Fatalf("second revoke: %v", err)
	}
}

func TestConnectedAppNames(t *testing.T) {
	for _, tc := range []struct {
		clientID, name, wantName, wantSite string
	}{
		{"http://localhost?scope=atproto", "Loopback client", "An app on this computer", ""},
		{"https://statusphere.example/client-metadata.json", "Statusphere", "Statusphere", "https://statusphere.example"},
		{"https://app.example:8443/oauth/client.json", "", "app.example", "https://app.example:8443"},
	} {
		c := connectedApp(oauthGrant(tc.clientID, tc.name))
		if c.Name != tc.wantName || c.Site != tc.wantSite || c.Permissions == nil {
			t.Errorf("%s: %+v", tc.clientID, c)
		}
	}
}

func oauthGrant(clientID, name string) oauth.GrantInfo {
	return oauth.GrantInfo{ID: "g", ClientID: clientID, ClientName: name, Scope: "atproto"}
}
