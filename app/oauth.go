package app

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/hearth-pds/hearth/pds/oauth"
)

// Connected apps: the apps signed in to the account with OAuth (pds/oauth
// grants), for the window's Connected apps screen. The window itself never
// uses OAuth; it calls the engine in-process.

// ConnectedApp is one app with a live OAuth grant.
type ConnectedApp struct {
	ID       string `json:"id"`
	Name     string `json:"name"`     // the app's client_name, else its host
	ClientID string `json:"clientId"` // its client_id URL
	// Site is where the app says it lives (the client_id's origin), "" for
	// a loopback (development) client.
	Site        string   `json:"site"`
	Loopback    bool     `json:"loopback"`
	Permissions []string `json:"permissions"` // in plain language
	Scope       string   `json:"scope"`
	SignedInAt  string   `json:"signedInAt"` // RFC 3339
	LastUsedAt  string   `json:"lastUsedAt"`
	ExpiresAt   string   `json:"expiresAt"` // when it must sign in again
}

// ErrNoSuchApp is a Revoke of an app that is not connected (any more).
var ErrNoSuchApp = errors.New("that app is not connected any more")

// ConnectedApps lists the apps signed in to the account, most recently used
// first.
func (a *App) ConnectedApps() ([]ConnectedApp, error) {
	e, err := a.eng()
	if err != nil {
		return nil, err
	}
	grants, err := e.OAuth.Grants(bg)
	if err != nil {
		return nil, fmt.Errorf("list connected apps: %w", err)
	}
	out := make([]ConnectedApp, 0, len(grants))
	for _, g := range grants {
		out = append(out, connectedApp(g))
	}
	return out, nil
}

func connectedApp(g oauth.GrantInfo) ConnectedApp {
	c := ConnectedApp{
		ID: g.ID, ClientID: g.ClientID, Name: g.ClientName, Loopback: oauth.Loopback(g.ClientID),
		Permissions: g.Permissions, Scope: g.Scope,
		SignedInAt: stamp(g.CreatedAt), LastUsedAt: stamp(g.LastUsedAt), ExpiresAt: stamp(g.ExpiresAt),
	}
	if c.Permissions == nil {
		c.Permissions = []string{}
	}
	if u, err := url.Parse(g.ClientID); err == nil && !c.Loopback && u.Scheme == "https" && u.Host != "" {
		c.Site = "https://" + u.Host
		if c.Name == "" {
			c.Name = u.Hostname()
		}
	}
	switch {
	case c.Loopback:
		// Loopback clients have no metadata: their name is the server's.
		c.Name = "An app on this computer"
	case c.Name == "":
		c.Name = g.ClientID
	}
	return c
}

func stamp(t time.Time) string {
	if t.IsZero() || t.Unix() == 0 {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// RevokeConnectedApp signs an app out: its refresh token and access tokens
// stop working at once. It returns the remaining apps.
func (a *App) RevokeConnectedApp(id string) ([]ConnectedApp, error) {
	e, err := a.eng()
	if err != nil {
		return nil, err
	}
	apps, err := a.ConnectedApps()
	if err != nil {
		return nil, err
	}
	found := false
	for _, c := range apps {
		found = found || c.ID == id
	}
	if !found {
		return nil, ErrNoSuchApp
	}
	if err := e.OAuth.Revoke(bg, id); err != nil {
		return nil, fmt.Errorf("revoke %s: %w", id, err)
	}
	return a.ConnectedApps()
}
