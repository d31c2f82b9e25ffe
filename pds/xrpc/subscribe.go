package xrpc

import "github.com/hearth-pds/hearth/pds/jetstream"

// registerJetstream serves GET /subscribe, the Jetstream-compatible JSON
// stream for apps (pds/jetstream), from the same event log and under the
// same subscriber caps as subscribeRepos.
func (s *Server) registerJetstream() {
	s.page("GET /subscribe", "none", jetstream.New(s.hub, s.e.Events, s.log).ServeHTTP)
}
