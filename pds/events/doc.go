// Package events encodes subscribeRepos frames (#commit, #sync, #identity,
// #account, #info, errors) as the DAG-CBOR header+body pairs the firehose
// sends, so the engine can store them encoded in its event log.
package events
