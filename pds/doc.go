// Package pds is Hearth's engine: a complete AT Protocol Personal Data
// Server on one SQLite database and a blob folder, with a Go API that both
// the XRPC handlers (pds/xrpc) and the desktop shell call. It never imports
// anything GUI-related.
package pds
