package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hearth-pds/hearth/pds/outbound"
)

// Client metadata documents (the atproto profile's client_id URLs).
const (
	// MetadataMaxBytes bounds a fetched client metadata document or JWKS.
	MetadataMaxBytes = 64 << 10
	// MetadataTimeout bounds one fetch.
	MetadataTimeout = 10 * time.Second
	// MetadataCacheTTL is how long a fetched document is reused.
	MetadataCacheTTL = 10 * time.Minute
	metadataCacheCap = 500
)

// ClientMetadata is an OAuth client's metadata document.
type ClientMetadata struct {
	ClientID                    string   `json:"client_id"`
	ClientName                  string   `json:"client_name,omitempty"`
	ClientURI                   string   `json:"client_uri,omitempty"`
	LogoURI                     string   `json:"logo_uri,omitempty"`
	TosURI                      string   `json:"tos_uri,omitempty"`
	PolicyURI                   string   `json:"policy_uri,omitempty"`
	RedirectURIs                []string `json:"redirect_uris"`
	GrantTypes                  []string `json:"grant_types,omitempty"`
	ResponseTypes               []string `json:"response_types,omitempty"`
	Scope                       string   `json:"scope,omitempty"`
	TokenEndpointAuthMethod     string   `json:"token_endpoint_auth_method,omitempty"`
	TokenEndpointAuthSigningAlg string   `json:"token_endpoint_auth_signing_alg,omitempty"`
	ApplicationType             string   `json:"application_type,omitempty"`
	DPoPBoundAccessTokens       bool     `json:"dpop_bound_access_tokens"`
	JWKS                        *JWKS    `json:"jwks,omitempty"`
	JWKSURI                     string   `json:"jwks_uri,omitempty"`
}

// JWKS is a set of public keys.
type JWKS struct {
	Keys []ECJWK `json:"keys"`
}

// Confidential reports whether the client authenticates with private_key_jwt.
func (m *ClientMetadata) Confidential() bool { return m.TokenEndpointAuthMethod == "private_key_jwt" }

// Loopback reports whether client_id is a loopback (development) client.
func Loopback(clientID string) bool {
	return clientID == "http://localhost" || strings.HasPrefix(clientID, "http://localhost?") ||
		strings.HasPrefix(clientID, "http://localhost/")
}

// loopbackMetadata is the spec's virtual metadata of a loopback client_id
// (http://localhost, optionally with redirect_uri and scope parameters).
func loopbackMetadata(clientID string) (*ClientMetadata, error) {
	u, err := url.Parse(clientID)
	if err != nil || u.Scheme != "http" || u.Host != "localhost" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return nil, errors.New("a loopback client_id is http://localhost with no port, path or fragment")
	}
	q := u.Query()
	for k := range q {
		if k != "redirect_uri" && k != "scope" {
			return nil, fmt.Errorf("a loopback client_id takes only redirect_uri and scope parameters, not %q", k)
		}
	}
	m := &ClientMetadata{
		ClientID:                clientID,
		ClientName:              "Loopback client",
		RedirectURIs:            q["redirect_uri"],
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		Scope:                   "atproto",
		TokenEndpointAuthMethod: "none",
		ApplicationType:         "native",
		DPoPBoundAccessTokens:   true,
	}
	if len(q["scope"]) > 1 {
		return nil, errors.New("a loopback client_id has at most one scope parameter")
	}
	if s := q.Get("scope"); s != "" {
		m.Scope = s
	}
	if len(m.RedirectURIs) == 0 {
		m.RedirectURIs = []string{"http://127.0.0.1/", "http://[::1]/"}
	}
	for _, r := range m.RedirectURIs {
		ru, err := url.Parse(r)
		if err != nil || ru.Scheme != "http" || !loopbackHost(ru.Hostname()) || ru.Fragment != "" {
			return nil, fmt.Errorf("a loopback client's redirect_uri must be http://127.0.0.1 or http://[::1], not %q", r)
		}
	}
	return m, nil
}

func loopbackHost(h string) bool { return h == "127.0.0.1" || h == "::1" }

// validate checks a fetched document against the atproto profile.
func (m *ClientMetadata) validate(clientID string) error {
	if m.ClientID != clientID {
		return errors.New("the document's client_id is not the URL it was fetched from")
	}
	if len(m.RedirectURIs) == 0 {
		return errors.New("the document lists no redirect_uris")
	}
	for _, r := range m.RedirectURIs {
		ru, err := url.Parse(r)
		if err != nil || ru.Scheme == "" || ru.Fragment != "" {
			return fmt.Errorf("invalid redirect_uri %q", r)
		}
		switch {
		case ru.Scheme == "https":
		case ru.Scheme == "http" && loopbackHost(ru.Hostname()):
		case strings.Contains(ru.Scheme, ".") && m.ApplicationType == "native":
			// A native app's private-use scheme (reverse domain name).
		default:
			return fmt.Errorf("redirect_uri %q must be https, loopback http or a native app's scheme", r)
		}
	}
	if !contains(m.ResponseTypes, "code") {
		return errors.New(`response_types must include "code"`)
	}
	if !contains(m.GrantTypes, "authorization_code") {
		return errors.New(`grant_types must include "authorization_code"`)
	}
	if !m.DPoPBoundAccessTokens {
		return errors.New("dpop_bound_access_tokens must be true")
	}
	if !contains(strings.Fields(m.Scope), "atproto") {
		return errors.New(`the client's scope must include "atproto"`)
	}
	switch m.TokenEndpointAuthMethod {
	case "none":
	case "private_key_jwt":
		if m.TokenEndpointAuthSigningAlg != "" && m.TokenEndpointAuthSigningAlg != "ES256" {
			return errors.New("token_endpoint_auth_signing_alg must be ES256")
		}
		if (m.JWKS == nil) == (m.JWKSURI == "") {
			return errors.New("a private_key_jwt client names exactly one of jwks and jwks_uri")
		}
	default:
		return fmt.Errorf("token_endpoint_auth_method %q is not supported (none, private_key_jwt)", m.TokenEndpointAuthMethod)
	}
	return nil
}

// clientStore resolves client_ids to metadata: loopback clients from their
// URL, the others fetched (bounded, cached).
type clientStore struct {
	http *http.Client
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]cachedDoc
}

type cachedDoc struct {
	body  []byte
	until time.Time
}

// ClientError is a client_id that cannot be used, with the reason.
type ClientError struct{ Reason string }

func (e *ClientError) Error() string { return "invalid client: " + e.Reason }

// Resolve returns the metadata of clientID.
func (c *clientStore) Resolve(ctx context.Context, clientID string) (*ClientMetadata, error) {
	if len(clientID) > 2048 {
		return nil, &ClientError{"client_id is too long"}
	}
	if Loopback(clientID) {
		m, err := loopbackMetadata(clientID)
		if err != nil {
			return nil, &ClientError{err.Error()}
		}
		return m, nil
	}
	u, err := url.Parse(clientID)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Fragment != "" || u.User != nil || u.Path == "" || u.Path == "/" {
		return nil, &ClientError{"client_id must be an https URL with a path (or a loopback http://localhost client)"}
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil {
		return nil, &ClientError{"client_id must name a host, not an IP address"}
	}
	body, err := c.fetch(ctx, clientID)
	if err != nil {
		return nil, &ClientError{"the client metadata document could not be fetched: " + err.Error()}
	}
	var m ClientMetadata
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, &ClientError{"the client metadata document is not valid JSON"}
	}
	if err := m.validate(clientID); err != nil {
		return nil, &ClientError{err.Error()}
	}
	return &m, nil
}

// fetch GETs a document, from the cache when fresh.
func (c *clientStore) fetch(ctx context.Context, rawURL string) ([]byte, error) {
	now := c.now()
	c.mu.Lock()
	if d, ok := c.cache[rawURL]; ok && now.Before(d.until) {
		c.mu.Unlock()
		return d.body, nil
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, MetadataTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, errors.New("bad URL")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fetchReason(err)
	}
	defer func() { _ = resp.Body.Close() }() // read-only
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the server answered %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MetadataMaxBytes+1))
	if err != nil {
		return nil, fetchReason(err)
	}
	if len(body) > MetadataMaxBytes {
		return nil, fmt.Errorf("the document is larger than %d bytes", MetadataMaxBytes)
	}
	c.mu.Lock()
	if len(c.cache) >= metadataCacheCap {
		for k, d := range c.cache {
			if now.After(d.until) || len(c.cache) >= metadataCacheCap {
				delete(c.cache, k)
			}
		}
	}
	c.cache[rawURL] = cachedDoc{body: body, until: now.Add(MetadataCacheTTL)}
	c.mu.Unlock()
	return body, nil
}

// fetchReason says why a fetch failed without internals (addresses and
// dial errors stay in logs).
func fetchReason(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, outbound.ErrRedirect):
		return errors.New("it redirected (redirects are not followed)")
	case errors.Is(err, outbound.ErrForbiddenAddress):
		return errors.New("its host is not on the public internet")
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return errors.New("it took too long")
	case errors.Is(err, outbound.ErrTooLarge):
		return errors.New("it is too large")
	}
	return errors.New("the request failed")
}
