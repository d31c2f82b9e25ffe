// Command localplc serves an in-memory did:plc directory (internal/plcdir,
// which verifies every operation) on a loopback address, for GUI tests and
// offline development: point HEARTH_PLC_URL / --plc-url at it.
//
//	go run ./internal/cmd/localplc -listen 127.0.0.1:0
//
// It prints "listening on http://ADDR" once ready.
package main
