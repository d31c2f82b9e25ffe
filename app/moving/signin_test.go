package moving

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// TestSignInEmailCode: an old PDS with email sign-in codes (as bsky.social
// does; the reference PDS 0.5.35 has none, so this server stands in for
// it, answering createSession only) makes the run wait for the code, and
// the code is sent with the password again.
func TestSignInEmailCode(t *testing.T) {
	const code = "ABCDE-12345"
	var gotCodes []string
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/xrpc/com.atproto.server.createSession" {
			w.WriteHeader(http.StatusNotImplemented)
			return
		}
		var in struct {
			Identifier, Password, AuthFactorToken string
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case in.Identifier != "alice.example.com" || in.Password != "right password":
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"AuthenticationRequired","message":"Invalid identifier or password"}`))
		case in.AuthFactorToken == "":
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"AuthFactorTokenRequired","message":"A sign in code has been sent to your email address"}`))
		case in.AuthFactorToken != code:
			gotCodes = append(gotCodes, in.AuthFactorToken)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"InvalidToken","message":"Token is invalid"}`))
		default:
			gotCodes = append(gotCodes, in.AuthFactorToken)
			_, _ = w.Write([]byte(`{"did":"did:plc:alice","handle":"alice.example.com","accessJwt":"a","refreshJwt":"r"}`))
		}
	}))
	t.Cleanup(old.Close)

	path := filepath.Join(t.TempDir(), "move.json")
	m, err := Begin(path, Plan{Direction: MoveIn, OldURL: old.URL, NewURL: "http://localhost:1", Identifier: "alice.example.com",
		Email: "a@example.com"}, Options{HTTP: old.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	steps := []struct {
		in   Input
		want Need
	}{
		{Input{}, NeedOldPassword},
		{Input{OldPassword: "wrong"}, NeedOldPassword},
		{Input{OldPassword: "right password"}, NeedEmailCode},
		{Input{OldPassword: "right password", EmailCode: "WRONG"}, NeedOldPassword},
		// Signed in; the next step (the summary) then fails on this
		// server, which only signs in: the run stops with an error there.
		{Input{OldPassword: "right password", EmailCode: " " + code + " "}, NeedNothing},
	}
	for i, s := range steps {
		err := m.Run(ctx, s.in)
		var ne *NeedInputError
		switch {
		case s.want != NeedNothing && (!errors.As(err, &ne) || ne.Need != s.want):
			t.Fatalf("run %d = %v, want it to wait for %s", i, err, s.want)
		case s.want == NeedNothing && (err == nil || errors.As(err, &ne)):
			t.Fatalf("run %d = %v, want the summary to fail", i, err)
		}
	}
	st, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.DID != "did:plc:alice" || st.OldSession.Refresh != "r" || st.Next != StepSummary || st.Problem == "" {
		t.Errorf("after signing in: did %q, session %+v, next %s, problem %q", st.DID, st.OldSession, st.Next, st.Problem)
	}
	if len(gotCodes) != 2 || gotCodes[1] != code {
		t.Errorf("codes sent: %q", gotCodes)
	}
}

// TestSignInThroughEntryway: an old address that is an entryway (as
// bsky.social is) answers createSession with a DID document naming the
// PDS that holds the repo; everything after sign-in goes to that PDS with
// the session the entryway issued, and a resume keeps going there. A DID
// document naming a plain-http endpoint is not followed.
func TestSignInThroughEntryway(t *testing.T) {
	var pdsCalls []string
	pds := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pdsCalls = append(pdsCalls, r.URL.Path+" "+r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusNotImplemented)
	}))
	t.Cleanup(pds.Close)
	for _, tc := range []struct {
		name, endpoint, wantPDS string
	}{
		{"https PDS", pds.URL, pds.URL},
		{"http endpoint not followed", "http://127.0.0.1:9", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pdsCalls = nil
			var entrywayCalls []string
			entryway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				entrywayCalls = append(entrywayCalls, r.URL.Path)
				if r.URL.Path != "/xrpc/com.atproto.server.createSession" {
					w.WriteHeader(http.StatusNotImplemented)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(map[string]any{
					"did": "did:plc:alice", "handle": "alice.example.com", "accessJwt": "a", "refreshJwt": "r",
					"didDoc": map[string]any{
						"id": "did:plc:alice",
						"service": []map[string]string{{
							"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": tc.endpoint,
						}},
					},
				})
			}))
			t.Cleanup(entryway.Close)
			path := filepath.Join(t.TempDir(), "move.json")
			// The TLS server's client trusts its certificate and speaks
			// plain http to the entryway too.
			opts := Options{HTTP: pds.Client()}
			m, err := Begin(path, Plan{Direction: MoveIn, OldURL: entryway.URL, NewURL: "http://localhost:1",
				Identifier: "alice.example.com", Email: "a@example.com"}, opts)
			if err != nil {
				t.Fatal(err)
			}
			// Signed in; the summary then fails (neither server serves it).
			if err := m.Run(context.Background(), Input{OldPassword: "pw"}); err == nil {
				t.Fatal("the summary should fail on these servers")
			}
			st, err := LoadState(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.OldPDS != tc.wantPDS || st.Next != StepSummary {
				t.Fatalf("after sign-in: oldPDS %q (want %q), next %s", st.OldPDS, tc.wantPDS, st.Next)
			}
			afterSignIn := func() []string {
				if tc.wantPDS != "" {
					return pdsCalls
				}
				return entrywayCalls[1:]
			}
			if len(afterSignIn()) == 0 {
				t.Fatalf("no request after sign-in reached the expected server (pds %q, entryway %q)", pdsCalls, entrywayCalls)
			}
			if tc.wantPDS != "" && len(entrywayCalls) != 1 {
				t.Errorf("the entryway was asked more than createSession: %q", entrywayCalls)
			}
			// A resume from the state file goes on with the same server.
			before := len(afterSignIn())
			r, err := Resume(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Run(context.Background(), Input{}); err == nil {
				t.Fatal("the summary should fail again")
			}
			if len(afterSignIn()) == before {
				t.Errorf("the resumed run did not go to the expected server")
			}
		})
	}
}
