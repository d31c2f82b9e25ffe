package oauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DPoP proofs (RFC 9449) as the atproto profile uses them.
const (
	// NonceRotation is how often the server's DPoP nonce changes; the
	// previous and the next nonce are accepted too.
	NonceRotation = 3 * time.Minute
	// ProofMaxAge bounds how old (by iat) a proof may be; ProofMaxSkew how
	// far in the future.
	ProofMaxAge  = 2 * time.Minute
	ProofMaxSkew = 30 * time.Second
	// replayCap bounds the jti replay cache.
	replayCap = 100_000
)

var b64 = base64.RawURLEncoding

// ECJWK is a public EC key in JWK form.
type ECJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d,omitempty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// PublicKey returns the ECDSA P-256 key of the JWK.
func (k ECJWK) PublicKey() (*ecdsa.PublicKey, error) {
	if k.Kty != "EC" || k.Crv != "P-256" {
		return nil, fmt.Errorf("unsupported key type %q/%q: only EC P-256 (ES256)", k.Kty, k.Crv)
	}
	if k.D != "" {
		return nil, errors.New("the JWK holds a private key")
	}
	xb, err1 := b64.DecodeString(k.X)
	yb, err2 := b64.DecodeString(k.Y)
	if err1 != nil || err2 != nil || len(xb) != 32 || len(yb) != 32 {
		return nil, errors.New("malformed EC coordinates")
	}
	// Uncompressed point encoding, checked on the curve.
	pt := append([]byte{4}, append(xb, yb...)...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
	if err != nil {
		return nil, errors.New("the point is not on P-256")
	}
	return pub, nil
}

// Thumbprint is the key's RFC 7638 SHA-256 thumbprint, base64url.
func (k ECJWK) Thumbprint() string {
	canon := fmt.Sprintf(`{"crv":%q,"kty":%q,"x":%q,"y":%q}`, k.Crv, k.Kty, k.X, k.Y)
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}

// ProofError is a refused DPoP proof. UseNonce says the client must retry
// with the nonce the server sends (error "use_dpop_nonce").
type ProofError struct {
	UseNonce bool
	Reason   string
}

func (e *ProofError) Error() string { return "invalid DPoP proof: " + e.Reason }

func badProof(format string, a ...any) error {
	return &ProofError{Reason: fmt.Sprintf(format, a...)}
}

// Proof is a verified DPoP proof.
type Proof struct {
	JKT string // the key's thumbprint
	JTI string
}

// dpopChecker verifies proofs: nonces, replays, times.
type dpopChecker struct {
	secret []byte
	now    func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time // jkt+jti → until when it is remembered
}

func newDPoPChecker(secret []byte, now func() time.Time) *dpopChecker {
	return &dpopChecker{secret: secret, now: now, seen: map[string]time.Time{}}
}

func (d *dpopChecker) nonceAt(counter int64) string {
	m := hmac.New(sha256.New, d.secret)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(counter))
	m.Write([]byte("dpop-nonce:"))
	m.Write(b[:])
	return b64.EncodeToString(m.Sum(nil)[:18])
}

func (d *dpopChecker) counter() int64 { return d.now().Unix() / int64(NonceRotation/time.Second) }

// Nonce is the server's current DPoP nonce.
func (d *dpopChecker) Nonce() string { return d.nonceAt(d.counter()) }

func (d *dpopChecker) validNonce(n string) bool {
	c := d.counter()
	for _, k := range []int64{c, c - 1, c + 1} {
		if hmac.Equal([]byte(n), []byte(d.nonceAt(k))) {
			return true
		}
	}
	return false
}

// remember records a jti and reports whether it was new.
func (d *dpopChecker) remember(key string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if _, ok := d.seen[key]; ok {
		return false, nil
	}
	if len(d.seen) >= replayCap {
		for k, until := range d.seen {
			if now.After(until) {
				delete(d.seen, k)
			}
		}
		if len(d.seen) >= replayCap {
			return false, errors.New("too many DPoP proofs in flight; try again shortly")
		}
	}
	d.seen[key] = now.Add(ProofMaxAge + ProofMaxSkew + time.Minute)
	return true, nil
}

type proofClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   *int64 `json:"iat"`
	Nonce string `json:"nonce"`
	ATH   string `json:"ath"`
}

// NormalizeHTU is a URL as DPoP's htu compares it: no query, no fragment.
func NormalizeHTU(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", false
	}
	u.RawQuery, u.Fragment, u.RawFragment, u.ForceQuery = "", "", "", false
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	return u.String(), true
}

// Verify checks a DPoP proof for a request with method htm to one of the
// URLs in htus (the same path at the server's accepted origins); ath is
// the access token it must be bound to ("" for the authorization server's
// endpoints).
func (d *dpopChecker) Verify(proof, htm string, htus []string, accessToken string) (*Proof, error) {
	if proof == "" {
		return nil, badProof("missing DPoP header")
	}
	if len(proof) > 8192 {
		return nil, badProof("DPoP header too long")
	}
	var jwk ECJWK
	var claims proofClaims
	_, err := parseES256(proof, &claims, func(h map[string]any) (*ecdsa.PublicKey, error) {
		if h["typ"] != "dpop+jwt" {
			return nil, errors.New(`typ must be "dpop+jwt"`)
		}
		raw, err := json.Marshal(h["jwk"])
		if err != nil || h["jwk"] == nil {
			return nil, errors.New("no jwk in the header")
		}
		if err := json.Unmarshal(raw, &jwk); err != nil {
			return nil, errors.New("malformed jwk")
		}
		return jwk.PublicKey()
	})
	if err != nil {
		return nil, badProof("%v", trimJWTError(err))
	}
	if claims.JTI == "" || len(claims.JTI) > 256 {
		return nil, badProof("missing or oversized jti")
	}
	if claims.HTM != htm {
		return nil, badProof("htm does not match the request method")
	}
	htu, ok := NormalizeHTU(claims.HTU)
	if !ok || !contains(htus, htu) {
		return nil, badProof("htu does not match the request URL")
	}
	if claims.IAT == nil {
		return nil, badProof("missing iat")
	}
	iat := time.Unix(*claims.IAT, 0)
	now := d.now()
	if iat.Before(now.Add(-ProofMaxAge)) || iat.After(now.Add(ProofMaxSkew)) {
		return nil, badProof("iat is outside the accepted window")
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		if claims.ATH != b64.EncodeToString(sum[:]) {
			return nil, badProof("ath does not match the access token")
		}
	}
	if claims.Nonce == "" || !d.validNonce(claims.Nonce) {
		return nil, &ProofError{UseNonce: true, Reason: "use the server's DPoP nonce"}
	}
	jkt := jwk.Thumbprint()
	fresh, err := d.remember(jkt + "\x00" + claims.JTI)
	if err != nil {
		return nil, badProof("%v", err)
	}
	if !fresh {
		return nil, badProof("the proof's jti was already used")
	}
	return &Proof{JKT: jkt, JTI: claims.JTI}, nil
}

func trimJWTError(err error) string {
	if err == nil {
		return "invalid token"
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
