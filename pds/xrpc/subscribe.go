package xrpc

import (
	"fmt"

	"github.com/hearth-pds/hearth/pds/jetstream"
)

// registerJetstream serves GET /subscribe, the Jetstream-compatible JSON
// stream for apps (pds/jetstream), from the same event log and under the
// same subscriber caps as subscribeRepos.
func (s *Server) registerJetstream() error {
	js, err := jetstream.New(s.hub, s.e.Events, s.log, s.opts.JetstreamZstdDictionary)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	s.page("GET /subscribe", "none", js.ServeHTTP)
	return nil
}
