package pds

import (
	"fmt"

	hid "github.com/hearth-pds/hearth/pds/identity"
)

// AppView is the AppView app.bsky.* calls are proxied to.
type AppView struct {
	URL string // scheme://host[:port]
	DID string // the service reference, did#id
}

// AppView returns the AppView in use now.
func (e *Engine) AppView() (AppView, error) {
	svc, err := e.Identity.AppViewService()
	if err != nil {
		return AppView{}, err
	}
	return AppView{URL: svc.URL.String(), DID: svc.DID.String() + "#" + svc.ID}, nil
}

// SetAppView points the service proxy at another AppView while the engine
// runs: the next app.bsky.* call goes there, with service auth for its
// DID, and the outbound policy trusts its origin instead of the old one.
// The DID is bare (did:web:api.bsky.app, service id bsky_appview) or has
// its #id. Empty values mean the defaults. Nothing changes on an error.
func (e *Engine) SetAppView(rawURL, did string) (AppView, error) {
	if rawURL == "" {
		rawURL = hid.DefaultAppViewURL
	}
	if did == "" {
		did = hid.DefaultAppViewDID
	}
	if _, err := e.Identity.SetAppView(rawURL, did); err != nil {
		return AppView{}, fmt.Errorf("set the AppView: %w", err)
	}
	return e.AppView()
}
