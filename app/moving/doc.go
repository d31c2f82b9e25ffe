// Package moving is the engine of the desktop "Move in" and "Move out"
// wizards: it moves one account from an old PDS to a new one over XRPC, as
// `goat account migrate` does, one step at a time, and persists its state
// to a file in the data folder after every step (0600, written atomically).
//
// Every step first looks at the remote side before it acts (is the account
// already created there, is the repo already imported, which blobs are
// still missing, does the DID document already point at the new PDS, …),
// so a run that stopped — a crash, a closed laptop, a lost network — is
// resumed by loading the state and running again: it continues where it
// stopped and repeats nothing that was done. The old side is deactivated
// only after the new side is active, so the account is never active on
// neither side.
//
// Passwords are never written to the state: a resumed run that needs a
// session the stored refresh tokens no longer give asks for them again
// (NeedInput). Outbound requests use the client the caller passes in,
// which in the app applies pds/outbound's policy.
//
// The package knows nothing about Wails or the window: app/move.go binds
// it to the frontend.
package moving
