// Package edge is how Hearth's HTTP listeners serve connections: the one
// http.Server constructor with its limits (header and idle timeouts, header
// size), and the client address of a request (the address the tunnel
// reports for connections that came through it, the TCP peer otherwise).
// It imports nothing of Hearth, so the tunnel and the XRPC server can
// both use it.
package edge
