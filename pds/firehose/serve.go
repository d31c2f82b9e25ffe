package firehose

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/gorilla/websocket"

	"github.com/hearth-pds/hearth/pds/events"
)

func httpError(w http.ResponseWriter, status int, name, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	// Encoding two strings cannot fail; a failed write means the client
	// is gone, and the status line has been sent already.
	_ = json.NewEncoder(w).Encode(map[string]string{"error": name, "message": msg})
}

// ServeHTTP serves one subscribeRepos connection.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var cursor *int64
	if c := r.URL.Query().Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 0 {
			httpError(w, http.StatusBadRequest, "InvalidRequest", "cursor must be a non-negative integer")
			return
		}
		cursor = &n
	}
	if !websocket.IsWebSocketUpgrade(r) {
		httpError(w, http.StatusBadRequest, "InvalidRequest", "subscribeRepos is a websocket endpoint")
		return
	}
	release, no := h.admit(clientAddr(r))
	if no != nil {
		w.Header().Set("Retry-After", "30")
		httpError(w, no.status, no.name, no.msg)
		return
	}
	defer release()
	hw := &batchingHijacker{ResponseWriter: w, sockBytes: h.cfg.SocketBytes}
	conn, err := h.upgrader.Upgrade(hw, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	defer func() {
		if err := conn.Close(); err != nil {
			h.log.Debug("firehose: close connection", "remote", r.RemoteAddr, "err", err)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn.SetReadLimit(1 << 12)
	go func() {
		// Consumers send nothing but control frames; a read error means gone.
		for {
			if _, _, err := conn.NextReader(); err != nil {
				cancel()
				return
			}
		}
	}()
	sub := &subscriber{remote: r.RemoteAddr} // pos 0 protects the whole log while we start
	h.add(sub)
	defer h.remove(sub)
	h.stream(ctx, conn, hw.conn, sub, cursor)
}

// batchConn lets a batch of frames go out in a few write(2) calls instead of
// one per frame: while a batch is open, gorilla's writes collect in a buffer.
// Outside a batch (control frames, the handshake, the batch's last frame) a
// write first flushes what was collected. Every flush thus runs inside one of
// gorilla's writes, under its lock and the deadline it set on the underlying
// connection.
type batchConn struct {
	net.Conn
	mu       sync.Mutex
	bw       *bufio.Writer
	batching bool
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batching {
		return c.bw.Write(p)
	}
	if c.bw.Buffered() > 0 {
		if err := c.bw.Flush(); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

func (c *batchConn) begin() {
	c.mu.Lock()
	c.batching = true
	c.mu.Unlock()
}

// last ends collecting: the next write flushes what was collected and
// goes out with it.
func (c *batchConn) last() {
	c.mu.Lock()
	c.batching = false
	c.mu.Unlock()
}

// end flushes whatever is still collected (nothing after last and a write).
func (c *batchConn) end() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching = false
	return c.bw.Flush()
}

// batchingHijacker hands gorilla a batchConn when it hijacks the connection.
type batchingHijacker struct {
	http.ResponseWriter
	conn      *batchConn
	sockBytes int // the socket's send buffer (0: the system's)
}

func (w *batchingHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the response writer cannot be hijacked")
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	// A fixed send buffer: the kernel's autotuning would let each stalled
	// socket hold up to net.ipv4.tcp_wmem's maximum (4 MiB by default).
	if sb, ok := c.(interface{ SetWriteBuffer(int) error }); ok && w.sockBytes > 0 {
		if err := sb.SetWriteBuffer(w.sockBytes); err != nil {
			_ = c.Close() // the hijack fails with the SetWriteBuffer error
			return nil, nil, fmt.Errorf("set the socket's send buffer: %w", err)
		}
	}
	w.conn = &batchConn{Conn: c, bw: bufio.NewWriterSize(c, 128<<10)}
	return w.conn, brw, nil
}

func (h *Hub) writeFrame(conn *websocket.Conn, frame []byte) error {
	if err := conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout)); err != nil {
		return err
	}
	return conn.WriteMessage(websocket.BinaryMessage, frame)
}

// closeWithError tells a consumer why it is cut off. Best effort: it may be
// gone already, so failures are only logged.
func (h *Hub) closeWithError(conn *websocket.Conn, name, msg string) {
	frame, err := events.EncodeError(name, msg)
	if err == nil {
		err = h.writeFrame(conn, frame)
	}
	if err == nil {
		err = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, name), time.Now().Add(time.Second))
	}
	if err != nil {
		h.log.Debug("firehose: send error frame", "error", name, "remote", conn.RemoteAddr().String(), "err", err)
	}
}

func (h *Hub) stream(ctx context.Context, conn *websocket.Conn, batch *batchConn, sub *subscriber, cursor *int64) {
	head := h.Stats().Seq
	pos := head
	if cursor != nil {
		if *cursor > head {
			h.closeWithError(conn, "FutureCursor", "cursor is ahead of the stream")
			return
		}
		oldest, err := h.events.OldestSeq(ctx)
		if err != nil {
			return
		}
		switch {
		case oldest == 0:
			pos = head
		case *cursor == 0:
			pos = oldest - 1
		case *cursor < oldest-1:
			msg := "cursor is older than the events kept; sending from the oldest"
			frame, err := events.Encode(events.KindInfo, &comatproto.SyncSubscribeRepos_Info{Name: "OutdatedCursor", Message: &msg})
			if err != nil || h.writeFrame(conn, frame) != nil {
				return
			}
			pos = oldest - 1
		default:
			pos = *cursor
		}
	}
	h.setPos(sub, pos)
	sub.queued.Store(pos)
	live := cursor == nil
	ping := time.NewTicker(h.cfg.PingInterval)
	defer ping.Stop()
	for {
		evs, fromRing, _, wait, err := h.fetch(ctx, pos)
		if err != nil {
			if ctx.Err() == nil {
				if werr := conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second)); werr != nil {
					h.log.Debug("firehose: send close frame", "remote", sub.remote, "err", werr)
				}
			}
			return
		}
		if len(evs) == 0 {
			live = true
			select {
			case <-ctx.Done():
				return
			case <-wait:
			case <-ping.C:
				if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.cfg.WriteTimeout)) != nil {
					return
				}
			}
			continue
		}
		if live && !fromRing {
			h.log.Info("firehose: cutting a consumer that fell behind", "remote", sub.remote, "pos", pos)
			h.noteCut()
			h.closeWithError(conn, "ConsumerTooSlow", "consumer fell too far behind the live stream")
			return
		}
		sub.queued.Store(evs[len(evs)-1].Seq)
		held := int64(0)
		for _, ev := range evs {
			held += int64(len(ev.Frame))
		}
		h.hold(sub, held)
		batch.begin()
		for i, ev := range evs {
			if i == len(evs)-1 {
				// The last frame's write flushes the batch inside gorilla's
				// write lock, under that frame's deadline (a pong written
				// meanwhile cannot shorten it).
				batch.last()
			}
			err := h.writeFrame(conn, ev.Frame)
			held -= int64(len(ev.Frame))
			sub.buffered.Store(held)
			evs[i].Frame = nil // handed over: no longer held for this subscriber
			if err != nil {
				// The connection is broken: the stream ends either way.
				if eerr := batch.end(); eerr != nil {
					h.log.Debug("firehose: flush after a failed write", "remote", sub.remote, "err", eerr)
				}
				return
			}
			pos = ev.Seq
		}
		if err := batch.end(); err != nil {
			return
		}
		h.setPos(sub, pos)
		select {
		case <-ping.C:
			if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.cfg.WriteTimeout)) != nil {
				return
			}
		default:
		}
	}
}
