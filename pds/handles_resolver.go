package pds

import (
	"context"
	"time"

	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"net/http"
)

// NetworkHandleResolver resolves handles over DNS TXT and HTTPS well-known,
// as the network does, with indigo's identity package.
type NetworkHandleResolver struct {
	dir identity.BaseDirectory
}

// NewNetworkHandleResolver returns a resolver using real DNS and HTTPS.
func NewNetworkHandleResolver() *NetworkHandleResolver {
	return &NetworkHandleResolver{dir: identity.BaseDirectory{HTTPClient: http.Client{Timeout: 3 * time.Second}}}
}

// ResolveHandle implements HandleResolver.
func (n *NetworkHandleResolver) ResolveHandle(ctx context.Context, handle string) (string, error) {
	h, err := syntax.ParseHandle(handle)
	if err != nil {
		return "", err
	}
	did, err := n.dir.ResolveHandle(ctx, h)
	return did.String(), err
}
