// Package eventlog is the account-change log behind the firehose: every
// #commit, #sync, #identity and #account event, stored already encoded in the
// event table so replay is a range scan. Writers append inside the store
// transaction that makes the change (Append), subscribers are woken only after
// it commits, and readers page through it by seq (Range). Seqs are strictly
// increasing and never reused, even after pruning.
package eventlog
