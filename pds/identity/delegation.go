package identity

import (
	"strings"

	"github.com/hearth-pds/hearth/pds/accounts"
	"github.com/hearth-pds/hearth/pds/errs"
)

// protectedMethods must be called directly on the PDS, never delegated:
// no service-auth token is issued for them and they are never proxied
// (the reference PDS's PROTECTED_METHODS).
var protectedMethods = map[string]bool{
	"com.atproto.admin.sendEmail":                       true,
	"com.atproto.identity.requestPlcOperationSignature": true,
	"com.atproto.identity.signPlcOperation":             true,
	"com.atproto.identity.updateHandle":                 true,
	"com.atproto.server.activateAccount":                true,
	"com.atproto.server.confirmEmail":                   true,
	"com.atproto.server.createAppPassword":              true,
	"com.atproto.server.deactivateAccount":              true,
	"com.atproto.server.getAccountInviteCodes":          true,
	"com.atproto.server.listAppPasswords":               true,
	"com.atproto.server.requestAccountDelete":           true,
	"com.atproto.server.requestEmailConfirmation":       true,
	"com.atproto.server.requestEmailUpdate":             true,
	"com.atproto.server.revokeAppPassword":              true,
	"com.atproto.server.updateEmail":                    true,
}

// ProtectedMethod reports whether nsid may never be delegated.
func ProtectedMethod(nsid string) bool { return protectedMethods[nsid] }

// PrivilegedMethod reports whether nsid needs a full session or a
// privileged app password (chat, and createAccount with service auth).
func PrivilegedMethod(nsid string) bool {
	return strings.HasPrefix(nsid, "chat.bsky.") || nsid == "com.atproto.server.createAccount"
}

// CheckDelegation says whether caller c may get a service-auth token for
// method nsid.
func CheckDelegation(nsid string, c accounts.Caller) error {
	if ProtectedMethod(nsid) {
		return errs.Invalid("cannot request a service auth token for the following protected method: %s", nsid)
	}
	if PrivilegedMethod(nsid) && !c.Privileged() {
		return errs.Invalid("insufficient access to request a service auth token for the following method: %s", nsid)
	}
	return nil
}
