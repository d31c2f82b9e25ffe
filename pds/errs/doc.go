// Package errs holds the engine's error kinds: sentinel errors that say what
// went wrong in terms a caller can act on (a repo that does not exist, a
// swap that failed, a password that was wrong). Engine packages return them
// wrapped in an *Error with a message meant for the person or client that
// made the request; pds/xrpc alone turns kinds into XRPC error names and
// HTTP statuses. Anything that is not an *Error (a SQL failure, a file
// path, a dial error) is internal: it is logged, never shown to a client.
package errs
