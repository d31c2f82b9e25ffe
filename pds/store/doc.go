// Package store opens Hearth's SQLite database (WAL, synchronous=FULL) and
// applies the versioned schema migrations embedded in the binary.
//
// A Store holds two pools: a single-connection writer, so that every write
// transaction is serialised and starts with BEGIN IMMEDIATE, and a reader pool
// that sees WAL snapshots concurrently with the writer. Reads that stream to
// a client (repo exports) open their snapshot with StreamSnapshot, which
// holds one of MaxLongReads of the ReadConns connections, so clients that
// stall can never take the connections every other request needs.
package store
