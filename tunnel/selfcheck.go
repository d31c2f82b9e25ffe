package tunnel

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/gorilla/websocket"
)

// Check is one self-check result.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Hint   string `json:"hint"` // how to fix it, when not OK
}

// SelfCheckInput says what to check.
type SelfCheckInput struct {
	PublicURL     string
	DID           string
	Handle        string
	Dir           identity.Directory                                       // resolves the DID (the PLC directory)
	ResolveHandle func(ctx context.Context, handle string) (string, error) // DNS TXT / HTTPS well-known
	HTTP          *http.Client
}

// SelfCheck answers "is my PDS reachable?" from the outside: the server
// through the public URL, the DID document's PDS endpoint, the handle, and
// a firehose websocket handshake.
func SelfCheck(ctx context.Context, in SelfCheckInput) []Check {
	client := in.HTTP
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	base := strings.TrimRight(in.PublicURL, "/")
	var out []Check

	c := Check{Name: "Server answers at the public URL"}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/xrpc/com.atproto.server.describeServer", nil)
	if resp, err := client.Do(req); err != nil {
		c.Detail = err.Error()
		c.Hint = "Is publishing switched on and the tunnel online? If you bring your own URL, check that your proxy forwards it to this computer's PDS port."
	} else {
		var d struct{ Did string }
		derr := json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		c.OK = resp.StatusCode == 200 && derr == nil && strings.HasPrefix(d.Did, "did:")
		c.Detail = fmt.Sprintf("HTTP %d, server %s", resp.StatusCode, d.Did)
		if derr != nil {
			c.Detail = fmt.Sprintf("HTTP %d, not a describeServer answer: %v", resp.StatusCode, derr)
		}
		if !c.OK {
			c.Hint = "Something else answers at this URL: make sure it forwards to Hearth, not another service."
		}
	}
	out = append(out, c)

	c = Check{Name: "Your DID document points at this PDS"}
	if in.Dir == nil {
		c.Detail = "no DID resolver configured"
	} else if id, err := in.Dir.LookupDID(ctx, syntax.DID(in.DID)); err != nil {
		c.Detail = err.Error()
		c.Hint = "The PLC directory does not know your DID yet: Hearth publishes it when the directory is reachable; check the pending identity operations."
	} else {
		got := strings.TrimRight(id.PDSEndpoint(), "/")
		c.OK = got == base
		c.Detail = "DID document says " + got
		if !c.OK {
			c.Hint = "The update to the new address is not published yet (it is sent when the tunnel comes online); wait a moment or check the PLC status."
		}
	}
	out = append(out, c)

	c = Check{Name: "Your handle resolves to your DID"}
	if in.ResolveHandle == nil {
		c.Detail = "no handle resolver configured"
	} else if did, err := in.ResolveHandle(ctx, in.Handle); err != nil {
		c.Detail = err.Error()
		c.Hint = fmt.Sprintf("Add a DNS TXT record _atproto.%s with the value \"did=%s\", or serve %s at https://%s/.well-known/atproto-did.", in.Handle, in.DID, in.DID, in.Handle)
	} else {
		c.OK = did == in.DID
		c.Detail = in.Handle + " resolves to " + did
		if !c.OK {
			c.Hint = "Your handle points at another DID: update the DNS TXT record or the well-known file."
		}
	}
	out = append(out, c)

	c = Check{Name: "Relays can open the firehose"}
	ws := "ws" + strings.TrimPrefix(base, "http") + "/xrpc/com.atproto.sync.subscribeRepos"
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	if conn, resp, err := d.DialContext(ctx, ws, nil); err != nil {
		c.Detail = err.Error()
		if resp != nil {
			c.Detail += fmt.Sprintf(" (HTTP %d)", resp.StatusCode)
		}
		c.Hint = "The websocket handshake failed: your proxy or tunnel must pass websocket upgrades through."
	} else {
		c.OK = true
		c.Detail = "websocket handshake OK"
		if err := conn.Close(); err != nil {
			c.Detail += fmt.Sprintf(" (closing it afterwards failed: %v)", err)
		}
	}
	out = append(out, c)
	return out
}
