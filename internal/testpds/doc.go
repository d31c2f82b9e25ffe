// Package testpds starts a real Hearth engine and its HTTP server on a
// random loopback port, with a temp data dir and an in-process local PLC
// directory, for integration tests; and verifies repo CARs the way a
// consumer on the network would.
package testpds
