package backup

import (
	"strings"
	"time"
)

// Format is the version of the backup layout this package writes; Restore
// refuses newer ones.
const Format = 1

// Names inside the backup's tar stream.
const (
	entryManifest = "manifest.json"
	entryDatabase = "hearth.db"
	entryDataKey  = "keys/data.key"
	entrySettings = "desktop.json"
	blobsPrefix   = "blobs/"
)

// SettingsFile is the desktop app's settings file in the data folder,
// carried by backups.
const SettingsFile = entrySettings

// Manifest describes a backup; it is the first entry of the archive.
type Manifest struct {
	Format    int       `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	// Accounts are the accounts in the database snapshot with their repo
	// heads, which a restore must reproduce.
	Accounts []AccountSummary `json:"accounts"`
	// Blobs and BlobBytes count the blob files in the archive.
	Blobs     int   `json:"blobs"`
	BlobBytes int64 `json:"blob_bytes"`
	// DatabaseBytes and DatabaseSHA256 describe the database snapshot.
	DatabaseBytes  int64  `json:"database_bytes"`
	DatabaseSHA256 string `json:"database_sha256"`
	// Settings says whether desktop.json is in the archive.
	Settings bool `json:"settings"`
	// DataKeyFrom says where the data key was read from (file or OS
	// keyring), for the record; a restore keeps it where its own
	// key-store setting asks.
	DataKeyFrom string `json:"data_key_from"`
}

// AccountSummary is one account in a backup.
type AccountSummary struct {
	DID     string `json:"did"`
	Handle  string `json:"handle"`
	Commit  string `json:"commit"` // head commit CID ("" if the account has no repo yet)
	Rev     string `json:"rev"`
	Records int    `json:"records"`
	Blobs   int    `json:"blobs"`
}

// Progress is a step of a long job: Phase says what, Done of Total how far
// (Total 0 when unknown).
type Progress struct {
	Phase string `json:"phase"`
	Done  int64  `json:"done"`
	Total int64  `json:"total"`
}

func report(fn func(Progress), phase string, done, total int64) {
	if fn != nil {
		fn(Progress{Phase: phase, Done: done, Total: total})
	}
}

// blobDir is the folder of did's blobs under blobs/, as pds/blobstore
// names it (the DID with ':' as '_').
func blobDir(did string) string { return strings.ReplaceAll(did, ":", "_") }
