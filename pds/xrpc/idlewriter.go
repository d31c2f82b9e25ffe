package xrpc

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// downloadIdle is how long a streamed download (getRepo) may go without
// the client accepting a write before it is cut: a stalled client must
// not keep its export, and the read transaction behind it, forever.
const downloadIdle = 30 * time.Second

// idleWriter gives every write to w a fresh deadline of idle.
type idleWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
}

func newIdleWriter(w http.ResponseWriter, idle time.Duration) io.Writer {
	return &idleWriter{w: w, rc: http.NewResponseController(w), idle: idle}
}

func (iw *idleWriter) Write(p []byte) (int, error) {
	if err := iw.rc.SetWriteDeadline(time.Now().Add(iw.idle)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	return iw.w.Write(p)
}
