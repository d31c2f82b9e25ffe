package xrpc

import "strings"

// openSignup reports whether handle may sign up without an invite code
// (Options.OpenSignupDomains). The handle is checked in full by
// CreateAccount; this only compares its suffix, case-insensitively.
func (s *Server) openSignup(handle string) bool {
	h := strings.ToLower(strings.TrimSpace(handle))
	for _, d := range s.opts.OpenSignupDomains {
		d = strings.ToLower(d)
		if !strings.HasPrefix(d, ".") {
			d = "." + d
		}
		if strings.HasSuffix(h, d) && len(h) > len(d) {
			return true
		}
	}
	return false
}
