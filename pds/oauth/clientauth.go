package oauth

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"net/url"
	"time"
)

const (
	assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// assertionMaxAge bounds how old a client assertion may be.
	assertionMaxAge = 5 * time.Minute
)

// authenticateClient checks the client's authentication on PAR, token and
// revocation requests: none for public clients, a private_key_jwt
// assertion for confidential ones. It returns the method and key id
// ("none" or "private_key_jwt:<kid>").
func (s *Server) authenticateClient(ctx context.Context, form url.Values, meta *ClientMetadata) (string, error) {
	typ, assertion := form.Get("client_assertion_type"), form.Get("client_assertion")
	if !meta.Confidential() {
		if typ != "" || assertion != "" {
			return "", invalidClient("this client is public (token_endpoint_auth_method none) and must not send a client assertion")
		}
		return "none", nil
	}
	if typ != assertionType || assertion == "" {
		return "", invalidClient("this client authenticates with private_key_jwt: a client_assertion is required")
	}
	if len(assertion) > 8192 {
		return "", invalidClient("the client assertion is too long")
	}
	keys, err := s.clientKeys(ctx, meta)
	if err != nil {
		return "", err
	}
	var kid string
	var claims assertionClaims
	_, err = parseES256(assertion, &claims, func(h map[string]any) (*ecdsa.PublicKey, error) {
		kid, _ = h["kid"].(string)
		if kid == "" && len(keys) > 1 {
			return nil, errors.New("the assertion names no kid and the client has several keys")
		}
		for _, k := range keys {
			if kid == "" || k.Kid == kid {
				return k.PublicKey()
			}
		}
		return nil, errors.New("no key of the client's JWKS has the assertion's kid")
	})
	if err != nil {
		return "", invalidClient("the client assertion is not valid: %s", trimJWTError(err))
	}
	now := s.cfg.Now()
	switch {
	case claims.Iss != meta.ClientID || claims.Sub != meta.ClientID:
		return "", invalidClient("the client assertion's iss and sub must be the client_id")
	case !audienceHas(claims.Aud, s.issuer()):
		return "", invalidClient("the client assertion's aud must be this server (%s)", s.issuer())
	case claims.Exp == 0 || now.Unix() > claims.Exp+30:
		return "", invalidClient("the client assertion has expired (or has no exp)")
	case claims.Iat == 0 || now.Sub(time.Unix(claims.Iat, 0)) > assertionMaxAge || time.Unix(claims.Iat, 0).After(now.Add(30*time.Second)):
		return "", invalidClient("the client assertion's iat is missing or outside the accepted window")
	}
	if claims.JTI == "" {
		return "", invalidClient("the client assertion has no jti")
	}
	fresh, err := s.assert.remember(meta.ClientID + "\x00" + claims.JTI)
	if err != nil || !fresh {
		return "", invalidClient("the client assertion's jti was already used")
	}
	return "private_key_jwt:" + kid, nil
}

func (s *Server) clientKeys(ctx context.Context, meta *ClientMetadata) ([]ECJWK, error) {
	if meta.JWKS != nil {
		return meta.JWKS.Keys, nil
	}
	body, err := s.clients.fetch(ctx, meta.JWKSURI)
	if err != nil {
		return nil, invalidClient("the client's jwks_uri could not be fetched: %v", err)
	}
	var set JWKS
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, invalidClient("the client's JWKS is not valid JSON")
	}
	return set.Keys, nil
}

type assertionClaims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Exp int64           `json:"exp"`
	Iat int64           `json:"iat"`
	JTI string          `json:"jti"`
}

// audienceHas reads aud as a string or a list of strings.
func audienceHas(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var list []string
	return json.Unmarshal(raw, &list) == nil && contains(list, want)
}
