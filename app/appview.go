package app

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/identity"
)

// The AppView (where app.bsky.* calls are proxied) as the Settings screen
// edits it: saved in desktop.json, applied to the running engine at once
// (pds.Engine.SetAppView), HEARTH_APPVIEW_URL / HEARTH_APPVIEW_DID win
// where they are given.

// AppView sources, for the Settings screen.
const (
	AppViewDefault  = "default"     // nothing chosen: Bluesky's AppView
	AppViewSettings = "settings"    // chosen in the Settings screen
	AppViewEnv      = "environment" // HEARTH_APPVIEW_URL / _DID: not editable here
)

// AppViewSetting is the Settings screen's AppView section.
type AppViewSetting struct {
	URL        string `json:"url"`
	DID        string `json:"did"`    // as in use; bare when its id is #bsky_appview
	Source     string `json:"source"` // AppViewDefault, AppViewSettings or AppViewEnv
	DefaultURL string `json:"defaultURL"`
	DefaultDID string `json:"defaultDID"`
	// Locked says why the fields cannot be edited here ("" = editable).
	Locked string `json:"locked"`
}

// CheckAppView validates an AppView typed into the Settings screen: an
// https URL with no path (http only to a loopback host, and only with the
// developer option that allows private networks), and a did:web or
// did:plc, bare (service id #bsky_appview) or with its #id. It returns the
// normalised URL and DID.
func CheckAppView(rawURL, did string, allowPrivate bool) (string, string, error) {
	rawURL, did = strings.TrimSpace(rawURL), strings.TrimSpace(did)
	u, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", "", errors.New("the AppView URL must look like https://api.example.com (no path, no query)")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowPrivate {
			return "", "", errors.New("the AppView URL must start with https:// (http:// works only for a loopback AppView with the developer option HEARTH_ALLOW_PRIVATE_NETWORK)")
		}
		if !isLoopbackHost(u.Hostname()) {
			return "", "", errors.New("http:// is accepted only for an AppView on this computer (localhost, 127.0.0.1, ::1); use https:// for any other")
		}
	default:
		return "", "", errors.New("the AppView URL must start with https://")
	}
	bare, frag, hasFrag := strings.Cut(did, "#")
	d, err := syntax.ParseDID(bare)
	if err != nil || (d.Method() != "web" && d.Method() != "plc") {
		return "", "", errors.New("the AppView DID must be a did:web or did:plc, such as did:web:api.bsky.app")
	}
	if hasFrag && (frag == "" || strings.ContainsAny(frag, "# ")) {
		return "", "", errors.New("the AppView DID's service id after # must be one word, such as #bsky_appview")
	}
	svc, err := identity.ParseAppView(u.String(), did)
	if err != nil {
		return "", "", err
	}
	return svc.URL.String(), did, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// startAppView is the AppView the engine opens with: the environment's
// where given, else the saved one (ignored, with a warning, when it no
// longer passes CheckAppView), else the default ("" leaves it to pds).
func (a *App) startAppView(st settings) (string, string) {
	u, d := st.AppViewURL, st.AppViewDID
	if u != "" || d != "" {
		cu, cd := orDefault(u, identity.DefaultAppViewURL), orDefault(d, identity.DefaultAppViewDID)
		if _, _, err := CheckAppView(cu, cd, a.cfg.AllowPrivateNetwork); err != nil {
			a.log.Warn("the saved AppView is not usable; using the default", "err", err)
			u, d = "", ""
		}
	}
	if a.cfg.AppViewURL != "" {
		u = a.cfg.AppViewURL
	}
	if a.cfg.AppViewDID != "" {
		d = a.cfg.AppViewDID
	}
	return u, d
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// appViewSetting describes the AppView in use for the Settings screen.
func (a *App) appViewSetting(st settings) (AppViewSetting, error) {
	e, err := a.eng()
	if err != nil {
		return AppViewSetting{}, err
	}
	av, err := e.AppView()
	if err != nil {
		return AppViewSetting{}, err
	}
	// bare when the service id is the default, as the reference writes it
	out := AppViewSetting{URL: av.URL, DID: strings.TrimSuffix(av.DID, "#"+identity.DefaultAppViewServiceID), Source: AppViewDefault,
		DefaultURL: identity.DefaultAppViewURL, DefaultDID: identity.DefaultAppViewDID}
	switch {
	case a.cfg.AppViewURL != "" || a.cfg.AppViewDID != "":
		out.Source = AppViewEnv
		out.Locked = "Set by HEARTH_APPVIEW_URL / HEARTH_APPVIEW_DID when Hearth was started; those win over this screen. Start Hearth without them to choose here."
	case st.AppViewURL != "" || st.AppViewDID != "":
		out.Source = AppViewSettings
	}
	return out, nil
}

// SetAppView checks and saves the AppView and points the running PDS at it
// at once (no restart). Empty fields mean the default. It is refused while
// the environment sets the AppView.
func (a *App) SetAppView(rawURL, did string) (*AppSettings, error) {
	if a.cfg.AppViewURL != "" || a.cfg.AppViewDID != "" {
		return nil, errors.New("the AppView is set by HEARTH_APPVIEW_URL / HEARTH_APPVIEW_DID; change it there")
	}
	e, err := a.eng()
	if err != nil {
		return nil, err
	}
	u, d, err := CheckAppView(orDefault(strings.TrimSpace(rawURL), identity.DefaultAppViewURL),
		orDefault(strings.TrimSpace(did), identity.DefaultAppViewDID), a.cfg.AllowPrivateNetwork)
	if err != nil {
		return nil, err
	}
	st, err := loadSettings(a.dir())
	if err != nil {
		return nil, err // not saved over: see loadSettings
	}
	st.AppViewURL, st.AppViewDID = u, d
	if u == identity.DefaultAppViewURL && (d == identity.DefaultAppViewDID || d == identity.DefaultAppViewDID+"#"+identity.DefaultAppViewServiceID) {
		st.AppViewURL, st.AppViewDID = "", "" // the default, not pinned
	}
	if err := saveSettings(a.dir(), st); err != nil {
		a.settingsSaved(err)
		return nil, err
	}
	a.settingsSaved(nil)
	if _, err := e.SetAppView(u, d); err != nil {
		return nil, fmt.Errorf("apply the AppView: %w", err)
	}
	return a.GetAppSettings()
}

// ResetAppView goes back to Bluesky's AppView (api.bsky.app).
func (a *App) ResetAppView() (*AppSettings, error) { return a.SetAppView("", "") }
