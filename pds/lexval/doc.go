// Package lexval validates repository records against the com.atproto.* and
// app.bsky.* Lexicon schemas that are embedded in the binary.
//
// It is a thin layer over indigo's atproto/lexicon package that adds the
// record-write semantics of the reference PDS (packages/pds, repo/prepare.ts):
//
//   - the record's $type must equal the collection it is written to;
//   - the XRPC "validate" parameter maps to a [Mode]: unset validates
//     optimistically (records of unknown collections are accepted with status
//     "unknown"), true requires a known Lexicon, false skips validation;
//   - a record of a known collection that does not match its schema is
//     rejected with a message meant to be shown to the user (XRPC error
//     InvalidRecord).
//
// Legacy blob references ({"cid", "mimeType"}) are rejected and datetime
// strings are checked strictly (RFC 3339 and ISO 8601, with timezone), as the
// reference PDS does for writes.
package lexval
