// Package secrets encrypts the engine's secrets at rest (account private
// keys, the session-signing secret) with AES-256-GCM under one data key.
// The data key lives in the OS keyring when one answers (Secret Service on
// Linux, Keychain on macOS, Credential Manager on Windows, through
// github.com/zalando/go-keyring), else in keys/data.key (0600) in the data
// folder. Sealed values start with a version prefix, so plain values from
// older folders are told apart and migrated.
package secrets
