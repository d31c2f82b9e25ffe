// Package conformance holds tests, and nothing else, that pin the behaviour
// of the indigo atproto primitives Hearth builds on against the official
// atproto interop test vectors (testdata/, see testdata/PROVENANCE.txt):
//
//   - syntax: handles, DIDs, NSIDs, TIDs, record keys, AT-URIs, datetimes,
//     at-identifiers, CIDs, URIs and language tags (atproto/syntax);
//   - crypto: P-256 and K-256 signature verification, including the rejection
//     of high-S and DER-encoded signatures, and did:key encoding
//     (atproto/atcrypto);
//   - data model: JSON <-> DAG-CBOR <-> CID round trips and invalid data
//     (atproto/atdata);
//   - MST: key heights, common prefixes, known tree root CIDs, edge cases of
//     tree shape under insertion and deletion, allowed and rejected keys, and
//     the new blocks of firehose commit proofs (atproto/repo/mst).
//
// When an indigo upgrade changes one of these behaviours, a test here fails
// before anything in the PDS does. Vectors on which indigo knowingly diverges
// are skipped with an explanation rather than silently dropped.
package conformance
