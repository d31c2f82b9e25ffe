// Package store opens Hearth's SQLite database (WAL, synchronous=FULL) and
// applies the versioned schema migrations embedded in the binary.
//
// A Store holds two pools: a single-connection writer, so that every write
// transaction is serialised and starts with BEGIN IMMEDIATE, and a reader pool
// that sees WAL snapshots concurrently with the writer.
package store
