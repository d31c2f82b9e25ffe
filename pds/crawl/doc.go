// Package crawl asks relays to crawl this PDS (com.atproto.sync.requestCrawl)
// whenever its public hostname comes up or changes, retrying failures with
// exponential backoff and keeping a status per relay for the GUI.
package crawl
