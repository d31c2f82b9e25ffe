// Package backup makes and restores full backups of a data folder and
// writes the portable export for leaving Hearth.
//
// A backup is one file: an age-encrypted (scrypt, from a passphrase) tar
// stream holding manifest.json, a snapshot of hearth.db, the data key that
// seals the private keys in it (keys/data.key, read from the file or the
// OS keyring), desktop.json when there is one, and every blob. Nothing in
// it is readable without the passphrase; inside, the private keys are
// still sealed and the data key travels beside them, so the backup opens
// on a new machine.
//
// Create is a reader: it never opens the engine and never takes the folder
// lock, so it runs the same whether or not hearthd serve or the desktop
// app holds the folder. The database is copied with SQLite's VACUUM INTO
// over its own read-only connection, which reads one consistent snapshot
// as of its start: every write acknowledged before then is in the backup.
// To fill the manifest it reads a few columns of the snapshot (accounts,
// repo heads, record and blob counts) directly, the one place outside the
// owning components that does.
//
// Restore unpacks into a temporary sibling of the target, opens it with
// the engine (no background jobs) and runs Engine.Verify, checks the repo
// heads against the manifest, and only then renames it into place: a wrong
// passphrase, a damaged or truncated file, or a failed check leaves
// nothing behind.
//
// Export writes, per account, the repo CAR, the blobs, the preferences,
// the PLC operations Hearth holds and the PLC rotation (recovery) key, to
// a folder or a zip; it reads through a running engine.
package backup
