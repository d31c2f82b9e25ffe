// Package crawl holds the relay policy: the default relays, how relay URLs
// are compared, and which hosts a relay may be asked to crawl (ShouldAsk:
// default relays only for public hosts, relays the operator named always).
// pds/reach does the asking and the checking.
package crawl
