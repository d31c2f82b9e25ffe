// Package xrpc is the HTTP face of the engine: XRPC methods of com.atproto.*
// (server, identity, repo, sync), /.well-known/atproto-did and the health
// endpoint, with the reference PDS's error names and status codes, CORS,
// body limits, request IDs and structured logs. One file per NSID group.
package xrpc
