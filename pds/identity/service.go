package identity

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/errs"
)

// Service-auth lifetimes, as the reference PDS bounds them.
const (
	// MaxServiceAuthTTL is the longest lifetime of any service-auth token.
	MaxServiceAuthTTL = time.Hour
	// MaxMethodlessTTL is the longest lifetime of a token without lxm.
	MaxMethodlessTTL = time.Minute
	// DefaultServiceAuthTTL is used when the caller asks for none.
	DefaultServiceAuthTTL = time.Minute
)

// ServiceAuth signs a service-auth JWT (with the account's signing key)
// for caller c, audience aud (a service DID, with or without #fragment),
// bound to method lxm ("" = any method) and valid for ttl (0 = one
// minute). The rules are the reference PDS's: methods that must never be
// delegated are refused for everyone; privileged methods need a full
// session or a privileged app password; app-password sessions must name
// lxm; ttl is at most an hour, and at most a minute without lxm.
func (i *Identity) ServiceAuth(ctx context.Context, c accounts.Caller, aud, lxm string, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		ttl = DefaultServiceAuthTTL
	}
	if ttl > MaxServiceAuthTTL {
		return "", errs.New(errs.ErrBadExpiration, "cannot request a token with an expiration more than an hour in the future")
	}
	if lxm == "" && ttl > MaxMethodlessTTL {
		return "", errs.New(errs.ErrBadExpiration, "cannot request a method-less token with an expiration more than a minute in the future")
	}
	audDID, _, _ := strings.Cut(aud, "#")
	if _, err := syntax.ParseDID(audDID); err != nil {
		return "", errs.Invalid("aud must be a DID (with an optional #service): %v", err)
	}
	var nsid *syntax.NSID
	if lxm == "" {
		if !c.Full() {
			return "", errs.Invalid("an app-password session must give lxm")
		}
	} else {
		n, err := syntax.ParseNSID(lxm)
		if err != nil {
			return "", errs.Invalid("lxm must be an NSID: %v", err)
		}
		if err := CheckDelegation(n.String(), c); err != nil {
			return "", err
		}
		nsid = &n
	}
	keys, err := i.accounts.Keys(ctx, c.DID)
	if err != nil {
		return "", err
	}
	tok, err := auth.SignServiceAuth(c.DID, aud, ttl, nsid, keys.Signing.Key()) // indigo picks the JWT alg by key type
	if err != nil {
		return "", fmt.Errorf("sign service auth: %w", err)
	}
	return tok, nil
}

// Service is where a proxied call goes.
type Service struct {
	DID syntax.DID // bare (no #fragment): the service-auth audience
	ID  string     // the service id, without '#'
	URL *url.URL   // scheme://host[:port] only
}

// ParseServiceRef splits an atproto-proxy value "did#id" as the reference
// PDS does: exactly one '#', a DID before it, a non-empty id after it, no
// spaces.
func ParseServiceRef(ref string) (syntax.DID, string, error) {
	did, id, ok := strings.Cut(ref, "#")
	switch {
	case !ok || id == "":
		return "", "", errs.Invalid("no service id specified in proxy header")
	case did == "":
		return "", "", errs.Invalid("no did specified in proxy header")
	case strings.Contains(id, "#") || strings.ContainsAny(ref, " \t"):
		return "", "", errs.Invalid("invalid proxy header format")
	}
	d, err := syntax.ParseDID(did)
	if err != nil {
		return "", "", errs.Invalid("invalid DID in proxy header")
	}
	return d, id, nil
}

// DefaultAppViewServiceID is the AppView's service id when the configured
// AppView DID is given bare (the reference PDS's convention).
const DefaultAppViewServiceID = "bsky_appview"

// ParseAppView checks the configured AppView: an http(s) URL with no path
// and a service DID, bare or with its #id.
func ParseAppView(rawURL, ref string) (*Service, error) {
	u, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" {
		return nil, fmt.Errorf("AppView URL %q must be http(s)://host[:port]", rawURL)
	}
	did, id, hasID := strings.Cut(ref, "#")
	if !hasID {
		id = DefaultAppViewServiceID
	}
	d, err := syntax.ParseDID(did)
	if err != nil || id == "" || strings.Contains(id, "#") {
		return nil, fmt.Errorf("AppView DID %q must be a DID, optionally with #id", ref)
	}
	return &Service{DID: d, ID: id, URL: &url.URL{Scheme: u.Scheme, Host: u.Host}}, nil
}

// AppViewService is the configured AppView, served from its configured
// URL without resolving its DID.
func (i *Identity) AppViewService() (*Service, error) {
	svc := i.appView.Load()
	if svc == nil {
		_, err := ParseAppView(i.cfg.AppViewURL, i.cfg.AppViewDID)
		return nil, fmt.Errorf("configured AppView: %w", err)
	}
	c := *svc // callers may not change the shared one
	u := *svc.URL
	c.URL = &u
	return &c, nil
}

// SetAppView replaces the AppView while the engine runs (the Settings
// screen): the next proxied call and service-auth check use it. A value
// ParseAppView refuses changes nothing.
func (i *Identity) SetAppView(rawURL, ref string) (*Service, error) {
	svc, err := ParseAppView(rawURL, ref)
	if err != nil {
		return nil, err
	}
	i.appView.Store(svc)
	i.log.Info("AppView changed", "url", svc.URL.String(), "did", svc.DID.String()+"#"+svc.ID)
	return i.AppViewService()
}

// ResolveService finds the endpoint of an atproto-proxy reference
// "did#id": the configured AppView from its configured URL; any other
// DID through its DID document (fetched under the outbound policy), whose
// service with that id must be https (http only with
// AllowPrivateNetwork). The connection itself still goes through the
// outbound policy.
func (i *Identity) ResolveService(ctx context.Context, ref string) (*Service, error) {
	did, id, err := ParseServiceRef(ref)
	if err != nil {
		return nil, err
	}
	if av, err := i.AppViewService(); err == nil && av.DID == did && av.ID == id {
		return av, nil
	}
	ident, err := i.cfg.Directory.LookupDID(ctx, did)
	if err != nil {
		i.log.Info("could not resolve proxied service", "did", did, "err", err)
		return nil, errs.New(errs.ErrInvalidRequest, "could not resolve proxy did")
	}
	svc, ok := ident.Services[id]
	if !ok || svc.URL == "" {
		return nil, errs.New(errs.ErrInvalidRequest, "could not resolve proxy did service url")
	}
	u, err := url.Parse(svc.URL)
	if err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && (u.Scheme != "http" || !i.cfg.AllowPrivateNetwork)) {
		i.log.Info("proxied service endpoint refused", "did", did, "id", id, "endpoint", svc.URL)
		return nil, errs.New(errs.ErrInvalidRequest, "proxy service endpoint must be an https URL")
	}
	return &Service{DID: did, ID: id, URL: &url.URL{Scheme: u.Scheme, Host: u.Host}}, nil
}
