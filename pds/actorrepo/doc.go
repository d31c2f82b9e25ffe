// Package actorrepo holds one account's repository in memory: the MST (built
// with indigo's atproto/repo/mst), the signed head commit, and the logic that
// turns a batch of record operations into a new signed v3 commit together
// with the blocks a firehose consumer needs to verify and invert it.
//
// It does no I/O: the engine persists what Apply returns in one transaction.
// A Repo is not safe for concurrent use; the engine serialises access per
// account.
package actorrepo
