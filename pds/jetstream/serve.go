package jetstream

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hearth-pds/hearth/pds/eventlog"
	"github.com/hearth-pds/hearth/pds/firehose"
)

// maxSubscriberMessage bounds what a subscriber may send in one message
// (an options_update with Jetstream's maximum of 10,000 DIDs fits).
const maxSubscriberMessage = 1 << 20

// Server serves /subscribe.
type Server struct {
	hub    *firehose.Hub
	events *eventlog.Log
	log    *slog.Logger
	now    func() time.Time
	zstd   *compressor // nil: compression is refused
}

// New returns the /subscribe handler over a firehose hub and the event log
// it follows (for turning cursors into seqs). zstdDict is Jetstream's zstd
// dictionary, for subscribers that ask for compression (nil: they are
// refused).
func New(hub *firehose.Hub, events *eventlog.Log, logger *slog.Logger, zstdDict []byte) (*Server, error) {
	s := &Server{hub: hub, events: events, log: logger, now: time.Now}
	if len(zstdDict) > 0 {
		c, err := newCompressor(zstdDict)
		if err != nil {
			return nil, err
		}
		s.zstd = c
	}
	return s, nil
}

func plainError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg)) // a gone client is no error of ours
}

// ServeHTTP serves one /subscribe connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	opts, err := ParseQuery(r.URL.Query(), r.Header.Get("Socket-Encoding"), s.now())
	if err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return
	}
	if opts.Compress && s.zstd == nil {
		plainError(w, http.StatusBadRequest, "zstd compression is not offered by this server (it has no Jetstream dictionary): connect without compress=true and without a Socket-Encoding: zstd header")
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		plainError(w, http.StatusBadRequest, "/subscribe is a websocket endpoint (Jetstream-compatible)")
		return
	}
	release, ok := s.hub.Admit(w, r)
	if !ok {
		return
	}
	defer release()
	conn, err := s.hub.Upgrade(w, r)
	if err != nil {
		return // the upgrader answered
	}
	defer func() { _ = conn.Close() }() // closing a broken connection has nothing to report
	c := &subscriber{s: s, conn: conn, remote: r.RemoteAddr, hello: make(chan struct{}), cfg: s.hub.Settings(), compress: opts.Compress}
	c.filter.Store(&opts.Filter)
	c.run(opts)
}

type subscriber struct {
	s      *Server
	conn   *websocket.Conn
	remote string
	cfg    firehose.Config
	filter atomic.Pointer[Filter]
	// compress: messages go out zstd-compressed, as binary frames
	compress bool

	hello     chan struct{}
	helloOnce sync.Once
	writeMu   sync.Mutex // control frames from the reader vs messages
}

func (c *subscriber) run(opts Options) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.conn.SetReadLimit(maxSubscriberMessage)
	go c.read(cancel)
	ping := time.NewTicker(c.cfg.PingInterval)
	defer ping.Stop()
	for waiting := opts.RequireHello; waiting; {
		select {
		case <-ctx.Done():
			return
		case <-c.hello:
			waiting = false
		case <-ping.C: // a peer that vanished while we wait is found out
			if c.control(websocket.PingMessage, nil) != nil {
				return
			}
		}
	}
	var after *int64
	if opts.Cursor != nil {
		seq, err := c.s.events.SeqAtTimeUS(ctx, *opts.Cursor)
		if err != nil {
			c.s.log.Warn("jetstream: find cursor", "err", err)
			c.close(websocket.CloseInternalServerErr, "could not read the event log")
			return
		}
		after = &seq
	}
	f := c.s.hub.Follow(c.remote, after)
	defer f.Close()
	for {
		evs, wait, err := f.Next(ctx)
		switch {
		case errors.Is(err, firehose.ErrTooSlow):
			c.s.log.Info("jetstream: cutting a consumer that fell behind", "remote", c.remote)
			c.close(websocket.ClosePolicyViolation, "consumer too slow")
			return
		case err != nil:
			if ctx.Err() == nil {
				c.close(websocket.CloseGoingAway, "server shutting down")
			}
			return
		}
		if len(evs) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-wait:
			case <-ping.C:
				if c.control(websocket.PingMessage, nil) != nil {
					return
				}
			}
			continue
		}
		for _, ev := range evs {
			if err := c.send(ev, opts.Cursor); err != nil {
				return
			}
		}
		f.Passed(evs[len(evs)-1].Seq)
	}
}

// send writes the messages of one event that the filter passes (and that
// are not before the cursor: a cursor may fall inside a commit's ops).
func (c *subscriber) send(ev eventlog.Event, cursor *int64) error {
	msgs, err := Messages(ev)
	if err != nil {
		c.s.log.Warn("jetstream: skipping an event that cannot be converted", "seq", ev.Seq, "err", err)
		return nil
	}
	flt := c.filter.Load()
	for _, m := range msgs {
		if cursor != nil && m.TimeUS < *cursor {
			continue
		}
		if !flt.Wants(m.DID, m.Collection) {
			continue
		}
		typ, b := websocket.TextMessage, m.JSON
		if c.compress {
			typ, b = websocket.BinaryMessage, c.s.zstd.compress(m.JSON)
		}
		if flt.MaxSize > 0 && len(b) > flt.MaxSize { // as in Jetstream: the size sent
			continue
		}
		c.writeMu.Lock()
		err := c.conn.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
		if err == nil {
			err = c.conn.WriteMessage(typ, b)
		}
		c.writeMu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// read handles what the subscriber sends: options_update messages (the
// first one is the hello a requireHello subscriber must send); a bad one
// ends the connection with its reason, as in Jetstream.
func (c *subscriber) read(cancel context.CancelFunc) {
	defer cancel()
	for {
		typ, msg, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		f, ok, err := ParseUpdate(msg)
		if err != nil {
			// Jetstream closes normally, giving the reason.
			c.close(websocket.CloseNormalClosure, err.Error())
			return
		}
		if ok {
			c.filter.Store(&f)
			c.helloOnce.Do(func() { close(c.hello) })
		}
	}
}

func (c *subscriber) control(typ int, data []byte) error {
	return c.conn.WriteControl(typ, data, time.Now().Add(c.cfg.WriteTimeout))
}

// close tells the subscriber why the stream ends. Best effort: it may be
// gone already.
func (c *subscriber) close(code int, reason string) {
	if len(reason) > 120 {
		reason = reason[:120] // a close frame's payload is at most 125 bytes
	}
	if err := c.control(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason)); err != nil {
		c.s.log.Debug("jetstream: send close frame", "remote", c.remote, "err", err)
	}
}
