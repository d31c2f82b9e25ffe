// Package blobstore keeps blob bytes on disk under <root>/<did>/<cid>. Uploads
// stream to a temp file while hashing; the file is fsynced and renamed into
// place, so a blob is either whole on disk or absent.
package blobstore
