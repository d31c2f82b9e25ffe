// Package repos owns the accounts' repositories: the record table, each
// repo's head (repo_root), the Merkle Search Tree kept warm in memory, and the
// write path that turns a batch of writes into one signed commit, stored in
// one transaction with its record rows, blob references and #commit event.
// It also reads records, exports repos and proofs as CAR files, and imports
// a repo from a CAR.
package repos
