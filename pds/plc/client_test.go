package plc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestClientStatusMapping(t *testing.T) {
	const did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
	tests := []struct {
		name    string
		status  int
		body    string
		post    bool
		want    error
		wantMsg string
	}{
		{"ok", http.StatusOK, `{}`, true, nil, ""},
		{"bad op", http.StatusBadRequest, `{"message":"Invalid signature"}`, true, ErrRejected, "Invalid signature"},
		{"conflict", http.StatusConflict, `plain text`, true, ErrRejected, "plain text"},
		{"rate limited", http.StatusTooManyRequests, `{"message":"slow down"}`, true, ErrUnreachable, "slow down"},
		{"server error", http.StatusBadGateway, ``, true, ErrUnreachable, "HTTP 502"},
		{"missing DID", http.StatusNotFound, `{"message":"DID not registered"}`, false, ErrNotFound, "DID not registered"},
		{"submit 404", http.StatusNotFound, `{"message":"nope"}`, true, ErrRejected, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotPath, gotMethod string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotPath, gotMethod = r.URL.Path, r.Method
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c := &Client{URL: srv.URL + "/", HTTP: srv.Client()}

			var err error
			wantPath, wantMethod := "/"+did, http.MethodPost
			if tt.post {
				err = c.Submit(context.Background(), did, []byte(`{}`))
			} else {
				_, err = c.LastOp(context.Background(), did)
				wantPath, wantMethod = "/"+did+"/log/last", http.MethodGet
			}
			if gotPath != wantPath || gotMethod != wantMethod {
				t.Errorf("request %s %s, want %s %s", gotMethod, gotPath, wantMethod, wantPath)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.want, tt.wantMsg)
			}
		})
	}
}

func TestClientRefusesNonPLC(t *testing.T) {
	c := &Client{URL: "http://127.0.0.1:1"}
	for _, did := range []string{"did:web:example.com", "did:plc:abc/../x", ""} {
		if err := c.Submit(context.Background(), did, []byte(`{}`)); err == nil || errors.Is(err, ErrUnreachable) {
			t.Errorf("Submit(%q) = %v, want a validation error", did, err)
		}
	}
}
