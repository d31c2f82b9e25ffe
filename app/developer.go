package app

import "strings"

// DeveloperInfo is what the Developer screen shows: where an app on this
// machine reaches the PDS's XRPC API and its Jetstream-compatible stream,
// and, while publishing, the public ones.
type DeveloperInfo struct {
	XRPCURL            string `json:"xrpcUrl"`            // http://localhost:PORT
	JetstreamURL       string `json:"jetstreamUrl"`       // ws://localhost:PORT/subscribe
	PublicXRPCURL      string `json:"publicXrpcUrl"`      // "" unless publishing
	PublicJetstreamURL string `json:"publicJetstreamUrl"` // wss://…/subscribe while publishing
	PLCURL             string `json:"plcUrl"`             // the PLC directory this PDS uses
}

// DeveloperInfo returns the URLs an app developer points an app at.
func (a *App) DeveloperInfo() (*DeveloperInfo, error) {
	st, err := a.Status()
	if err != nil {
		return nil, err
	}
	out := &DeveloperInfo{XRPCURL: st.LocalURL, JetstreamURL: wsURL(st.LocalURL) + "/subscribe", PLCURL: a.cfg.PLCURL}
	if out.PLCURL == "" {
		out.PLCURL = "https://plc.directory"
	}
	if st.PublicURL != "" {
		out.PublicXRPCURL = st.PublicURL
		out.PublicJetstreamURL = wsURL(st.PublicURL) + "/subscribe"
	}
	return out, nil
}

// wsURL turns an http(s) base URL into the ws(s) one.
func wsURL(base string) string {
	base = strings.TrimSuffix(base, "/")
	if rest, ok := strings.CutPrefix(base, "https://"); ok {
		return "wss://" + rest
	}
	if rest, ok := strings.CutPrefix(base, "http://"); ok {
		return "ws://" + rest
	}
	return base
}
