package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
	var claims jwt.RegisteredClaims
	_, err = jwt.ParseWithClaims(assertion, &claims, func(t *jwt.Token) (any, error) {
		kid, _ = t.Header["kid"].(string)
		for _, k := range keys {
			if kid == "" || k.Kid == kid {
				if kid == "" && len(keys) > 1 {
					return nil, errors.New("the assertion names no kid and the client has several keys")
				}
				return k.PublicKey()
			}
		}
		return nil, errors.New("no key of the client's JWKS has the assertion's kid")
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithIssuer(meta.ClientID), jwt.WithSubject(meta.ClientID), jwt.WithAudience(s.issuer()),
		jwt.WithTimeFunc(s.cfg.Now), jwt.WithLeeway(30*time.Second))
	if err != nil {
		return "", invalidClient("the client assertion is not valid: %s", trimJWTError(err))
	}
	if claims.IssuedAt == nil || s.cfg.Now().Sub(claims.IssuedAt.Time) > assertionMaxAge {
		return "", invalidClient("the client assertion is too old (iat)")
	}
	if claims.ID == "" {
		return "", invalidClient("the client assertion has no jti")
	}
	fresh, err := s.assert.remember(meta.ClientID + "\x00" + claims.ID)
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
