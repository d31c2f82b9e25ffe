package xrpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hearth-pds/hearth/pds/errs"
)

// Every engine error kind has an XRPC answer.
func TestErrorMapCoversEveryKind(t *testing.T) {
	for _, k := range errs.Kinds {
		if _, ok := errorMap[k]; !ok {
			t.Errorf("no XRPC error for kind %q", k)
		}
	}
}

func TestWriteError(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		status  int
		xrpc    string
		message string
	}{
		{"kind with message", fmt.Errorf("get: %w", errs.RepoNotFound("did:plc:x")), 400, "RepoNotFound", "Could not find repo: did:plc:x"},
		{"bare sentinel", fmt.Errorf("ctx: %w", errs.ErrRecordNotFound), 400, "RecordNotFound", "RecordNotFound"},
		{"auth gets WWW-Authenticate", errs.New(errs.ErrAuthRequired, "Invalid password"), 401, "AuthenticationRequired", "Invalid password"},
		{"edge kind", errs.New(errMethodNotImplemented, "Method Not Implemented"), 501, "MethodNotImplemented", "Method Not Implemented"},
		{"body too large", fmt.Errorf("decode: %w", &http.MaxBytesError{Limit: 10}), 413, "PayloadTooLarge", "request body is larger than 10 bytes"},
		{"internal details stay out", fmt.Errorf("store commit: %w", errors.New("sqlite: disk I/O error at /home/me/.local/share/hearth/hearth.db")), 500, "InternalServerError", "Internal Server Error"},
		{"cause of a known kind stays out", errs.Wrap(errs.ErrUpstreamFailure, errors.New("dial tcp 10.0.0.7:443: connection refused"), "could not reach the service"), 502, "UpstreamFailure", "could not reach the service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			writeError(w, tc.err)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			var body struct{ Error, Message string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body.Error != tc.xrpc || body.Message != tc.message {
				t.Fatalf("answered %+v, want %s / %q", body, tc.xrpc, tc.message)
			}
			for _, secret := range []string{"sqlite", "/home/", "10.0.0.7"} {
				if strings.Contains(w.Body.String(), secret) {
					t.Fatalf("response leaks %q: %s", secret, w.Body.String())
				}
			}
			if got := w.Header().Get("WWW-Authenticate"); (tc.status == 401) != (got != "") {
				t.Fatalf("WWW-Authenticate %q for status %d", got, tc.status)
			}
		})
	}
}
