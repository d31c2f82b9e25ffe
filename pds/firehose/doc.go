// Package firehose serves com.atproto.sync.subscribeRepos over websockets
// from the engine's event log.
//
// One tail goroutine follows the log and keeps the newest events in a ring;
// every subscriber walks the log by seq at its own pace (from the ring when
// it can, from SQLite when it is further back), so replay and live share one
// code path and there is no seam where an event could be missed or sent
// twice. No per-subscriber queue exists: a subscriber that falls out of the
// ring while live is cut with ConsumerTooSlow, so memory stays bounded
// however slow a consumer is. Pruning the log never removes an event a
// connected subscriber has not been sent yet.
package firehose
