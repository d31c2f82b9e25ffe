// Package outbound is Hearth's one policy for HTTP fetches whose URL came
// from outside (DID documents, handle well-known files, service-proxy
// targets): only public unicast addresses, checked on the resolved IP at
// dial time so DNS rebinding cannot get around it; no HTTP_PROXY; no
// redirects; bounded response bodies; dial, TLS, header and overall time
// limits. Operator-configured origins (the PLC directory, the AppView) can
// be named as trusted and skip the address rule.
package outbound
