package plc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

var (
	// ErrUnreachable: the directory could not be reached or is temporarily
	// failing (network error, timeout, 408, 429 or 5xx). Retrying later may succeed.
	ErrUnreachable = errors.New("plc directory unreachable")
	// ErrRejected: the directory refused the request (any other 4xx),
	// e.g. an invalid signature or a prev that is not the current head.
	ErrRejected = errors.New("plc directory rejected the operation")
	// ErrNotFound: the directory has no (live) document for the DID.
	ErrNotFound = errors.New("plc directory: DID not found")
)

// maxResponse bounds how much of a directory response is read.
const maxResponse = 1 << 20

// Client talks to a PLC directory. HTTP may be nil (http.DefaultClient).
type Client struct {
	URL  string // e.g. https://plc.directory, no trailing path
	HTTP *http.Client
}

// Submit POSTs a signed operation to {URL}/{did}. Errors wrap [ErrUnreachable]
// or [ErrRejected] and include the directory's message.
func (c *Client) Submit(ctx context.Context, did string, opJSON []byte) error {
	_, err := c.do(ctx, http.MethodPost, did, "", opJSON)
	if err != nil {
		return fmt.Errorf("plc submit %s: %w", did, err)
	}
	return nil
}

// LastOp returns the most recent operation of did ({URL}/{did}/log/last).
func (c *Client) LastOp(ctx context.Context, did string) ([]byte, error) {
	b, err := c.do(ctx, http.MethodGet, did, "/log/last", nil)
	if err != nil {
		return nil, fmt.Errorf("plc last op %s: %w", did, err)
	}
	return b, nil
}

// DocumentData returns the current document data of did ({URL}/{did}/data):
// did, rotationKeys, verificationMethods, alsoKnownAs, services.
func (c *Client) DocumentData(ctx context.Context, did string) (json.RawMessage, error) {
	b, err := c.do(ctx, http.MethodGet, did, "/data", nil)
	if err != nil {
		return nil, fmt.Errorf("plc document data %s: %w", did, err)
	}
	return json.RawMessage(b), nil
}

func (c *Client) do(ctx context.Context, method, did, suffix string, body []byte) ([]byte, error) {
	if !strings.HasPrefix(did, "did:plc:") || strings.ContainsAny(did, "/?#") {
		return nil, fmt.Errorf("not a did:plc: %q", did)
	}
	endpoint := strings.TrimSuffix(c.URL, "/") + "/" + did + suffix
	req, err := http.NewRequestWithContext(ctx, method, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("%w: read response: %w", ErrUnreachable, err)
	}
	if resp.StatusCode/100 == 2 {
		return b, nil
	}
	msg := errorMessage(b)
	switch code := resp.StatusCode; {
	case code == http.StatusNotFound && method == http.MethodGet:
		return nil, fmt.Errorf("%w: %s", ErrNotFound, msg)
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return nil, fmt.Errorf("%w: HTTP %d: %s", ErrUnreachable, code, msg)
	case code >= 400:
		return nil, fmt.Errorf("%w: HTTP %d: %s", ErrRejected, code, msg)
	default:
		return nil, fmt.Errorf("unexpected HTTP %d: %s", code, msg)
	}
}

// errorMessage extracts {"message": ...} from a directory error body, falling
// back to the (truncated) raw body.
func errorMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil {
		if e.Message != "" {
			return e.Message
		}
		if e.Error != "" {
			return e.Error
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 512 {
		s = s[:512] + "…"
	}
	if s == "" {
		s = "(no message)"
	}
	return s
}
