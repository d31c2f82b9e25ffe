// Package jetstream holds the compatibility test of Hearth's /subscribe
// against the real Jetstream (built by scripts/test-jetstream.sh). The
// package has no code besides its tests.
package jetstream
