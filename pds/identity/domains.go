package identity

import (
	"net"
	"strings"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// UserDomains are the handle domains this PDS offers (describeServer's
// availableUserDomains, each with its leading dot): the configured ones,
// else "."+the public hostname when that hostname can hold handles (the
// reference PDS's default of PDS_SERVICE_HANDLE_DOMAINS). A handle under
// one of them is this server's to give: it resolves here, through this
// server's /.well-known/atproto-did, without asking anyone outside.
func (i *Identity) UserDomains() []string {
	if len(i.cfg.UserDomains) > 0 {
		out := make([]string, 0, len(i.cfg.UserDomains))
		for _, d := range i.cfg.UserDomains {
			if d = NormalizeUserDomain(d); d != "" {
				out = append(out, d)
			}
		}
		return out
	}
	host := i.Hostname()
	if net.ParseIP(host) != nil {
		return []string{}
	}
	if h, err := syntax.ParseHandle(host); err != nil || !h.AllowedTLD() {
		return []string{}
	}
	return []string{"." + host}
}

// NormalizeUserDomain lower-cases d and gives it a leading dot; "" when d
// is not a domain a handle could sit under.
func NormalizeUserDomain(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	d = strings.TrimPrefix(d, ".")
	if d == "" {
		return ""
	}
	// A domain may be a bare TLD such as "test"; check it with a label in front.
	if _, err := syntax.ParseHandle("x." + d); err != nil {
		return ""
	}
	return "." + d
}

// UnderUserDomain reports whether h is a handle under one of UserDomains
// (one or more labels in front of the domain).
func (i *Identity) UnderUserDomain(h syntax.Handle) bool {
	s := strings.ToLower(h.String())
	for _, d := range i.UserDomains() {
		if strings.HasSuffix(s, d) && len(s) > len(d) {
			return true
		}
	}
	return false
}

// Links are the server's policy links for describeServer.
type Links struct {
	PrivacyPolicy  string
	TermsOfService string
}

// ServerLinks returns the configured policy links and contact email.
func (i *Identity) ServerLinks() (Links, string) { return i.cfg.Links, i.cfg.ContactEmail }
