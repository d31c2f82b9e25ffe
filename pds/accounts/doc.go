// Package accounts owns who may use this PDS: the account rows with their
// keys, sessions (refresh tokens), app passwords, invite codes, preferences
// and the login throttle. It holds all of their SQL; other components reach
// account data only through this package's API. Changes that must be atomic
// with other components' rows take the caller's *store.Tx.
package accounts
