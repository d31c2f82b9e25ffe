package tunnel

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"golang.ngrok.com/ngrok/v2"
)

// Kinds of ngrok problems (Problem.Kind).
const (
	ProblemInvalidToken = "invalid-token" // ngrok does not know the authtoken
	ProblemAccountLimit = "account-limit" // the account's plan does not allow this
	ProblemDomain       = "domain"        // the reserved domain is not the account's
	ProblemNoNetwork    = "no-network"    // ngrok could not be reached
	ProblemOther        = "other"
)

// Problem is a tunnel failure said in one plain sentence, with the raw
// error kept for a "details" fold-out. A permanent problem is not retried:
// only the user can fix it (another token, another plan).
type Problem struct {
	Kind      string
	Sentence  string
	Detail    string
	Permanent bool
	Err       error
}

func (p *Problem) Error() string { return p.Sentence }
func (p *Problem) Unwrap() error { return p.Err }

// IsPermanent reports whether err is a Problem that retrying cannot fix.
func IsPermanent(err error) bool {
	var p *Problem
	return errors.As(err, &p) && p.Permanent
}

// ExplainNgrok turns an error from the ngrok agent into a Problem (nil
// for nil). ngrok's own errors carry a code (ERR_NGROK_…); network errors
// mean ngrok could not be reached.
func ExplainNgrok(err error) *Problem {
	if err == nil {
		return nil
	}
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	out := &Problem{Kind: ProblemOther, Detail: err.Error(), Err: err}
	var ne ngrok.Error
	code := ""
	if errors.As(err, &ne) {
		code = ne.Code()
	}
	msg := strings.ToLower(err.Error())
	switch {
	case code == "ERR_NGROK_105" || code == "ERR_NGROK_106" || code == "ERR_NGROK_107" || code == "ERR_NGROK_4018" ||
		(code == "" && strings.Contains(msg, "authtoken") && (strings.Contains(msg, "invalid") || strings.Contains(msg, "not valid"))):
		out.Kind, out.Permanent = ProblemInvalidToken, true
		out.Sentence = "ngrok did not accept this authtoken: copy it again from your ngrok dashboard (Your Authtoken) and paste it here."
	case code == "ERR_NGROK_108" || code == "ERR_NGROK_8012" || strings.Contains(msg, "simultaneous"):
		out.Kind, out.Permanent = ProblemAccountLimit, true
		out.Sentence = "Your ngrok account is already in use by another ngrok agent, and its plan allows only one at a time: stop the other one (ngrok's dashboard lists it) and try again."
	case code == "ERR_NGROK_313" || code == "ERR_NGROK_314" || code == "ERR_NGROK_320" || code == "ERR_NGROK_15013" ||
		(code != "" && strings.Contains(msg, "domain")):
		out.Kind, out.Permanent = ProblemDomain, true
		out.Sentence = "ngrok refused the domain: reserve it in your ngrok dashboard under Domains (your account gets one free), or leave the domain empty."
	case code != "" && (strings.Contains(msg, "limit") || strings.Contains(msg, "plan") || strings.Contains(msg, "upgrade")):
		out.Kind, out.Permanent = ProblemAccountLimit, true
		out.Sentence = fmt.Sprintf("Your ngrok account's plan does not allow this (%s): see your ngrok dashboard.", code)
	case isNetworkError(err):
		out.Kind = ProblemNoNetwork
		out.Sentence = "Hearth could not reach ngrok: check that this computer is online. It tries again on its own."
	case code != "":
		out.Sentence = fmt.Sprintf("ngrok refused the connection (%s).", code)
	default:
		out.Sentence = "The ngrok tunnel could not connect."
	}
	return out
}

func isNetworkError(err error) bool {
	var dns *net.DNSError
	var op *net.OpError
	var ua x509.UnknownAuthorityError
	return errors.As(err, &dns) || errors.As(err, &op) || errors.As(err, &ua) ||
		errors.Is(err, context.DeadlineExceeded) || strings.Contains(strings.ToLower(err.Error()), "no such host")
}

// CheckNgrokToken connects an ngrok agent with token once and disconnects
// (nothing is published): nil when ngrok accepts it, else a Problem.
// opts are for tests (WithAgentConnectURL, WithDialer).
func CheckNgrokToken(ctx context.Context, token string, opts ...ngrok.AgentOption) error {
	token = strings.TrimSpace(token)
	if token == "" {
		return &Problem{Kind: ProblemInvalidToken, Permanent: true, Sentence: ErrNoAuthtoken.Error(), Err: ErrNoAuthtoken}
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// The agent retries a failed dial until the deadline; a check answers
	// at the first failure instead (one sentence, not a loop).
	d := &failFastDialer{cancel: cancel}
	base := []ngrok.AgentOption{ngrok.WithAuthtoken(token), ngrok.WithClientInfo("hearth", "dev"), ngrok.WithDialer(d)}
	a, err := ngrok.NewAgent(append(base, opts...)...)
	if err != nil {
		return ExplainNgrok(fmt.Errorf("start ngrok agent: %w", err))
	}
	if err := a.Connect(ctx); err != nil {
		if first := d.failure(); first != nil {
			return ExplainNgrok(first)
		}
		return ExplainNgrok(err)
	}
	if err := a.Disconnect(); err != nil {
		return fmt.Errorf("disconnect the ngrok agent after checking the token: %w", err)
	}
	return nil
}

// failFastDialer dials as net.Dialer does and, on the first failure,
// remembers it and cancels the check.
type failFastDialer struct {
	d      net.Dialer
	cancel context.CancelFunc
	mu     sync.Mutex
	first  error
}

func (f *failFastDialer) Dial(network, address string) (net.Conn, error) {
	return f.DialContext(context.Background(), network, address)
}

func (f *failFastDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := f.d.DialContext(ctx, network, address)
	if err != nil {
		f.mu.Lock()
		if f.first == nil {
			f.first = err
		}
		f.mu.Unlock()
		f.cancel()
	}
	return c, err
}

func (f *failFastDialer) failure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.first
}
