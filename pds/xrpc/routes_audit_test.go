package xrpc_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atclient"

	"github.com/hearth-pds/hearth/internal/testpds"
)

// routesFile lists every route the listener serves (the same handler faces
// the tunnel) with who may call it. A route added without a line here fails
// TestRouteAudit: decide who may call it, then add the line by hand.
const routesFile = "testdata/routes.txt"

type auditedRoute struct{ method, path, auth string }

func readAuditedRoutes(t *testing.T) []auditedRoute {
	t.Helper()
	f, err := os.Open(routesFile)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // opened read-only
	var out []auditedRoute
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			t.Fatalf("%s:%d: want \"METHOD PATH AUTH  # note\", got %q", routesFile, n, sc.Text())
		}
		out = append(out, auditedRoute{fields[0], fields[1], fields[2]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRouteAudit fails when the listener serves a route that the audit file
// does not list with the same auth requirement, or lists one it no longer
// serves; and it checks the listed requirements hold: every "access" and
// "full" route refuses a request without a session.
func TestRouteAudit(t *testing.T) {
	p := testpds.Start(t, nil)
	listed := map[string]string{}
	for _, r := range readAuditedRoutes(t) {
		listed[r.method+" "+r.path] = r.auth
	}
	served := map[string]string{}
	for _, r := range p.Server.Routes() {
		served[r.Method+" "+r.Path] = r.Auth
	}
	for k, auth := range served {
		want, ok := listed[k]
		switch {
		case !ok:
			t.Errorf("route %s (auth %s) is served but not listed in %s: decide who may call it and list it", k, auth, routesFile)
		case want != auth:
			t.Errorf("route %s: served with auth %s, %s says %s", k, auth, routesFile, want)
		}
	}
	for k := range listed {
		if _, ok := served[k]; !ok {
			t.Errorf("%s lists %s, which is not served", routesFile, k)
		}
	}
	// An app-password session, for the "full" routes.
	a := p.CreateAccount(t, "audit.test")
	var ap struct{ Password string }
	if err := p.Login(t, a).Post(ctx, "com.atproto.server.createAppPassword", map[string]any{"name": "audit"}, &ap); err != nil {
		t.Fatal(err)
	}
	appc, err := atclient.LoginWithPasswordHost(ctx, p.URL, a.Handle, ap.Password, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	appAccess, _ := tokens(appc)
	for k, auth := range served {
		if auth != "access" && auth != "full" {
			continue
		}
		method, path, _ := strings.Cut(k, " ")
		if auth == "full" {
			t.Run(fmt.Sprintf("%s_with_app_password", strings.TrimPrefix(path, "/xrpc/")), func(t *testing.T) {
				var body []byte
				ctype := ""
				if method == http.MethodPost {
					body, ctype = []byte("{}"), "application/json"
				}
				status, _, b := raw(t, method, p.URL+path, appAccess, ctype, body)
				xrpcErr(t, status, b, http.StatusUnauthorized, "AuthenticationRequired")
			})
		}
		t.Run(fmt.Sprintf("%s_without_session", strings.TrimPrefix(path, "/xrpc/")), func(t *testing.T) {
			var body []byte
			ctype := ""
			if method == http.MethodPost {
				body, ctype = []byte("{}"), "application/json"
			}
			status, _, b := raw(t, method, p.URL+path, "", ctype, body)
			xrpcErr(t, status, b, http.StatusUnauthorized, "AuthMissing")
		})
	}
}
