// Package reach keeps this PDS visible to relays. Whenever the PDS comes
// online — at start, on a new public URL or a tunnel reconnect, after the
// computer wakes from sleep (a gap between the monotonic and wall clocks)
// or when the network changes — it announces itself to every relay
// (com.atproto.sync.requestCrawl), and then keeps checking that each relay
// is actually subscribed (com.atproto.sync.getHostStatus for our hostname,
// or, on a relay without that method, whether anyone is connected to our
// firehose), re-announcing with backoff capped at one minute while it is
// not. The hostname is the public URL's host with its port when it has one.
//
// Which relays are asked follows crawl.ShouldAsk: relays the operator named
// are asked even for a local or private host; default relays only for a
// public one.
package reach
