package xrpc

import (
	"net/http"
	"sync"

	"github.com/hearth-pds/hearth/pds/outbound"
)

// proxyClients hands out the proxy's HTTP client. The client trusts the
// AppView in use (the engine's outbound policy); when the AppView changes
// while the server runs (pds.Engine.SetAppView), the next call gets a
// client that trusts the new origin and no longer the old one.
type proxyClients struct {
	policy func() outbound.Policy // the engine's policy now
	limits func(*outbound.Policy) // the proxy's size and time limits

	mu      sync.Mutex
	trusted string // the Trusted list the client was built for
	client  *http.Client
}

func (p *proxyClients) get() *http.Client {
	pol := p.policy()
	p.limits(&pol)
	key := ""
	for _, t := range pol.Trusted {
		key += t + "\n"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil || key != p.trusted {
		if p.client != nil {
			p.client.CloseIdleConnections()
		}
		p.client, p.trusted = pol.Client(), key
	}
	return p.client
}
