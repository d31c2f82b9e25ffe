// Package folder guards a data folder: one owner at a time (an exclusive
// OS lock on hearth.lock that names the holder's pid), owner-only file
// modes (0700 folders, 0600 files, repaired once per layout version), and
// hearth.state, a marker kept outside the database that says whether the
// folder has held accounts, so a lost or emptied database is noticed
// instead of starting an empty PDS.
package folder
