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
//
// Caps (caps.go) bound what strangers can hold: connections in all and per
// client address are counted before the websocket upgrade (refused 503 or
// 429 with an XRPC error body); each subscriber reads the log or the ring in
// pages of at most SubscriberBytes of frames, fetched only as its socket
// drains, so a replay from cursor=0 never holds the history; each socket
// has a fixed kernel send buffer; a stalled write ends the connection
// after WriteTimeout.
package firehose
