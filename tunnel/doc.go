// Package tunnel gives a laptop's PDS a public address.
//
// A Provider opens the public side (ngrok, a URL the user brings for their
// own reverse proxy, or loopback for tests); a Manager serves the PDS's
// http.Handler on it, reports status (connecting, online with the public
// URL, offline with a reason), and reconnects with backoff when the tunnel
// drops. The handler is the same one served on loopback: the public surface
// is exactly the XRPC API, and GUI-only operations (which are Go calls, not
// HTTP routes) cannot be reached through it.
package tunnel
