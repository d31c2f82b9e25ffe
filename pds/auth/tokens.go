package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Scopes carried by session tokens, as the reference PDS names them.
const (
	ScopeAccess      = "com.atproto.access"
	ScopeAppPass     = "com.atproto.appPass"
	ScopeAppPassPriv = "com.atproto.appPassPrivileged"
	ScopeRefresh     = "com.atproto.refresh"
	typAccess        = "at+jwt"
	typRefresh       = "refresh+jwt"
)

// Errors from token parsing.
var (
	ErrExpired   = errors.New("token has expired")
	ErrInvalid   = errors.New("token could not be verified")
	ErrWrongType = errors.New("wrong token type")
)

// Issuer signs and verifies session tokens.
type Issuer struct {
	Secret     []byte
	ServiceDID string // aud of the tokens
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	Now        func() time.Time
}

// Claims of a verified token.
type Claims struct {
	DID   string
	Scope string
	ID    string // jti (refresh tokens)
	Exp   time.Time
}

type claims struct {
	Scope string `json:"scope"`
	// Aud is a single string, as the reference PDS sends it (the embedded
	// RegisteredClaims.Audience would marshal as an array).
	Aud string `json:"aud"`
	jwt.RegisteredClaims
}

// GetAudience implements jwt.Claims.
func (c claims) GetAudience() (jwt.ClaimStrings, error) { return jwt.ClaimStrings{c.Aud}, nil }

func (i *Issuer) now() time.Time {
	if i.Now != nil {
		return i.Now()
	}
	return time.Now()
}

// NewID returns a random token id.
func NewID() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (i *Issuer) sign(typ, did, scope, id string, ttl time.Duration) (string, time.Time, error) {
	now := i.now()
	exp := now.Add(ttl)
	c := claims{Scope: scope, Aud: i.ServiceDID, RegisteredClaims: jwt.RegisteredClaims{
		Subject:   did,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
		ID:        id,
	}}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["typ"] = typ
	s, err := t.SignedString(i.Secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign %s: %w", typ, err)
	}
	return s, exp, nil
}

// Access issues an access token.
func (i *Issuer) Access(did, scope string) (string, error) {
	s, _, err := i.sign(typAccess, did, scope, "", i.AccessTTL)
	return s, err
}

// Refresh issues a refresh token with the given id.
func (i *Issuer) Refresh(did, id string) (string, time.Time, error) {
	return i.sign(typRefresh, did, ScopeRefresh, id, i.RefreshTTL)
}

func (i *Issuer) parse(tok, typ string) (*Claims, error) {
	var c claims
	t, err := jwt.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
		return i.Secret, nil
	}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithAudience(i.ServiceDID), jwt.WithTimeFunc(i.now), jwt.WithExpirationRequired())
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, ErrExpired
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if h, _ := t.Header["typ"].(string); h != typ {
		return nil, fmt.Errorf("%w: got %q, want %q", ErrWrongType, h, typ)
	}
	return &Claims{DID: c.Subject, Scope: c.Scope, ID: c.ID, Exp: c.ExpiresAt.Time}, nil
}

// ParseAccess verifies an access token.
func (i *Issuer) ParseAccess(tok string) (*Claims, error) {
	c, err := i.parse(tok, typAccess)
	if err != nil {
		return nil, err
	}
	switch c.Scope {
	case ScopeAccess, ScopeAppPass, ScopeAppPassPriv:
		return c, nil
	}
	return nil, fmt.Errorf("%w: scope %q", ErrWrongType, c.Scope)
}

// ParseRefresh verifies a refresh token.
func (i *Issuer) ParseRefresh(tok string) (*Claims, error) {
	c, err := i.parse(tok, typRefresh)
	if err != nil {
		return nil, err
	}
	if c.Scope != ScopeRefresh || c.ID == "" {
		return nil, fmt.Errorf("%w: not a refresh token", ErrWrongType)
	}
	return c, nil
}
