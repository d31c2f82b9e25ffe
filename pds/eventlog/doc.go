// Package eventlog is the account-change log behind the firehose: every
// #commit, #sync, #identity and #account event, stored already encoded in the
// event table so replay is a range scan. Writers append inside the store
// transaction that makes the change (Append), subscribers are woken only after
// it commits, and readers page through it by seq (Range). Seqs are strictly
// increasing and never reused, even after pruning. Each event also gets a
// time_us stamp (timeus.go): unix microseconds, strictly increasing along
// the log past every commit's span of ops, which the Jetstream-compatible
// /subscribe sends as time_us and takes as its cursor (SeqAtTimeUS).
package eventlog
