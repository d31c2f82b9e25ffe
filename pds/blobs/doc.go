// Package blobs owns the account's uploaded files: the bytes on disk
// (content-addressed, via pds/blobstore), the blob table that describes them
// and the record_blob table of which records reference which blob. Commits
// update references inside the commit's transaction (SetRefs, ClearRefs);
// unreferenced blobs are collected after a grace period.
package blobs
