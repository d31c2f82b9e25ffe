// Package jetstream serves GET /subscribe, a stream compatible with
// Bluesky's Jetstream (github.com/bluesky-social/jetstream): JSON messages,
// one per record operation, identity change or account change, filtered by
// collection (with prefix wildcards such as app.bsky.feed.*) and by DID, with
// a cursor in unix microseconds.
//
// It keeps no history of its own: every connection follows the engine's
// event log through the firehose hub (firehose.Follower), so it shares the
// hub's caps on subscribers (in all and per client address), its in-memory
// ring and its pruning protection, and converts each stored #commit,
// #identity and #account frame to Jetstream's JSON as it sends it. time_us
// is the event log's own stamp (eventlog.Event.TimeUS), the op's index
// added for the ops of one commit, so a cursor replays exactly what was
// sent. #sync frames, and commits marked tooBig, are not sent, as
// Jetstream does not send them.
//
// zstd compression (compress=true or a Socket-Encoding: zstd header) works
// as in Jetstream — each message compressed on its own with Jetstream's
// dictionary, sent as a binary frame — when the operator supplies that
// dictionary (Hearth does not ship it); without it such a subscriber is
// refused with 400 rather than sent frames it cannot read.
//
// Differences from Jetstream, on purpose: a consumer too slow for the live stream is cut when it falls
// out of the hub's ring (Jetstream cuts it when its 50,000-message queue
// fills); maxMessageSizeBytes in an options_update takes effect (Jetstream
// documents it but applies only the filters).
package jetstream
