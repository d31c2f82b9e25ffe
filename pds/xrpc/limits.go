package xrpc

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hearth-pds/hearth/pds/edge"
	"github.com/hearth-pds/hearth/pds/errs"
	"github.com/hearth-pds/hearth/pds/ratelimit"
)

// Per-address rate limits of the public listener, answered 429
// RateLimitExceeded with RateLimit-Limit, -Remaining, -Reset (unix seconds)
// and -Policy ("points;w=seconds") headers as the reference PDS does. They
// apply to every request that came through the tunnel and to direct
// connections from non-loopback addresses; direct loopback connections
// (the owner's own tools, benchmarks, test suites) are never limited. The
// reference keys writes on the account's DID; Hearth, with a handful of
// accounts, keys everything on the client address (an IPv6 /64).
var (
	// The reference's repo-write-hour and repo-write-day (create 3 points,
	// update 2, delete 1).
	ruleWriteHour = ratelimit.Rule{Name: "repo-write-hour", Points: 5000, Window: time.Hour}
	ruleWriteDay  = ratelimit.Rule{Name: "repo-write-day", Points: 35000, Window: 24 * time.Hour}
	// The reference's createSession limits (it keys them on identifier and
	// address; the password throttle covers the account side here).
	ruleSession    = ratelimit.Rule{Name: "create-session", Points: 30, Window: 5 * time.Minute}
	ruleSessionDay = ratelimit.Rule{Name: "create-session-day", Points: 300, Window: 24 * time.Hour}
	// The reference's createAccount and deleteAccount limits.
	ruleCreateAccount = ratelimit.Rule{Name: "create-account", Points: 100, Window: 5 * time.Minute}
	ruleDeleteAccount = ratelimit.Rule{Name: "delete-account", Points: 50, Window: 5 * time.Minute}
	// Hearth's own: the reference has only its global 3000 requests per 5
	// minutes for uploads; one address may upload 300 blobs an hour.
	ruleUploadBlob = ratelimit.Rule{Name: "upload-blob", Points: 300, Window: time.Hour}
)

var writeRules = []ratelimit.Rule{ruleWriteHour, ruleWriteDay}

// routeLimits are the rules and points of each limited method; applyWrites
// charges per write in its handler (create 3, update 2, delete 1).
var routeLimits = map[string]struct {
	rules  []ratelimit.Rule
	points int
}{
	"com.atproto.repo.createRecord":    {writeRules, 3},
	"com.atproto.repo.putRecord":       {writeRules, 2},
	"com.atproto.repo.deleteRecord":    {writeRules, 1},
	"com.atproto.repo.uploadBlob":      {[]ratelimit.Rule{ruleUploadBlob}, 1},
	"com.atproto.server.createAccount": {[]ratelimit.Rule{ruleCreateAccount}, 1},
	"com.atproto.server.createSession": {[]ratelimit.Rule{ruleSession, ruleSessionDay}, 1},
	"com.atproto.server.deleteAccount": {[]ratelimit.Rule{ruleDeleteAccount}, 1},
}

// DefaultRateLimitKeys is how many (rule, address) counters are kept at
// most (about 100 bytes each); beyond it the least recently used go.
const DefaultRateLimitKeys = 20000

// Body limits: a request body must arrive within a read deadline sized to
// the endpoint, and is bounded in size (JSON bodies by MaxJSONBody,
// uploadBlob by the blob limit, importRepo by repos.MaxImportBytes, in
// their handlers).
const (
	DefaultBodyTimeout       = 30 * time.Second
	DefaultBlobBodyTimeout   = 5 * time.Minute  // 100 MB at ~3 Mbit/s
	DefaultImportBodyTimeout = 15 * time.Minute // a big repo CAR
)

// limit charges points of rules to the request's client address. It sets
// the RateLimit-* headers of the tightest rule and returns a 429 error when
// a rule is spent. Unlimited clients (direct loopback) pass untouched.
func (s *Server) limit(w http.ResponseWriter, r *http.Request, points int, rules ...ratelimit.Rule) error {
	c := edge.ClientAddr(r)
	if !c.Limited() || len(rules) == 0 || points <= 0 {
		return nil
	}
	st := s.limiter.Take(c.Key(), points, rules...)
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(st.Rule.Points))
	h.Set("RateLimit-Remaining", strconv.Itoa(st.Remaining))
	h.Set("RateLimit-Reset", strconv.FormatInt(st.Reset.Unix(), 10))
	h.Set("RateLimit-Policy", strconv.Itoa(st.Rule.Points)+";w="+strconv.Itoa(int(st.Rule.Window/time.Second)))
	if !st.OK {
		return errs.RateLimited(time.Until(st.Reset), "Rate Limit Exceeded")
	}
	return nil
}

// limitBody gives the request body its read deadline and size bound.
func (s *Server) limitBody(w http.ResponseWriter, r *http.Request, nsid string) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return // no body: no deadline (a websocket's connection must outlive it)
	}
	d := s.opts.BodyTimeout
	switch nsid {
	case "com.atproto.repo.uploadBlob":
		d = s.opts.BlobBodyTimeout
	case "com.atproto.repo.importRepo":
		d = s.opts.ImportBodyTimeout
	default:
		r.Body = http.MaxBytesReader(w, r.Body, MaxJSONBody)
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return // not a real connection (tests with a recorder)
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
}

// deadlineBody lifts the read deadline once the body is read: the server
// then watches the idle connection, and a deadline passing there would
// cancel a long-running handler.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{}) // best effort: the connection may be gone
	}
	return n, err
}

// bodyTimedOut reports whether err is a body that did not arrive in time.
func bodyTimedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
