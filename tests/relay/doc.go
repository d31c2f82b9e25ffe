// Package relay holds the cross-implementation test: a real indigo relay
// (built by scripts/test-relay.sh) crawls a running Hearth and must accept
// every event of a mixed workload. The package has no code besides its tests.
package relay
