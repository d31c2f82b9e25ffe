package xrpc

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A panic in a handler is answered with a generic 500 body: the panic's
// text (which may hold paths or data) goes to the log only.
func TestPanicIsAGenericInternalError(t *testing.T) {
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil)), mux: http.NewServeMux()}
	s.mux.HandleFunc("/xrpc/boom", func(http.ResponseWriter, *http.Request) {
		panic("index out of range reading /home/me/.local/share/hearth/hearth.db")
	})
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/xrpc/boom", nil))
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", w.Code)
	}
	if body := strings.TrimSpace(w.Body.String()); body != `{"error":"InternalServerError","message":"Internal Server Error"}` {
		t.Fatalf("body %q", body)
	}
}
