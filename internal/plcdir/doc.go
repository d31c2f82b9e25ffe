// Package plcdir is an in-memory did:plc directory speaking the HTTP API of
// plc.directory, for tests and local development.
//
// Operations are fully verified with github.com/did-method-plc/go-didplc
// before they are accepted (genesis DID and self-signature, prev = current
// head or a nullifiable earlier op, signature by an allowed rotation key,
// strictly increasing timestamps), so a PDS that works against it produces
// operations the real directory accepts. Documents it serves resolve through
// indigo's identity.BaseDirectory{PLCURL: ...}.
//
// Routes:
//
//	POST /{did}            submit a signed operation (or tombstone)
//	GET  /{did}            DID document
//	GET  /{did}/data       document data (rotationKeys, verificationMethods, ...)
//	GET  /{did}/log        active operations, oldest first
//	GET  /{did}/log/last   latest operation
//	GET  /{did}/log/audit  all operations with cid, nullified, createdAt
//
// Errors are JSON {"message": "..."}: 400 for refused operations, 404 for an
// unknown DID (or a tombstoned one, for the document and its data).
package plcdir
