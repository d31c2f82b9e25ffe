// Package ratelimit counts points per key in fixed windows, for the XRPC
// edge's per-address limits. Its memory is bounded: it tracks at most a
// fixed number of keys and forgets the least recently used beyond that.
package ratelimit
