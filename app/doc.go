// Package app is the Go side of Hearth's desktop shell: the methods the
// Wails frontend calls. It is thin: it starts the engine (pds) in-process
// with its HTTP server on a loopback port, and turns GUI actions into engine
// calls (the same validated write path as XRPC), long jobs into progress
// events, and file choices into native dialogs (through the UI interface,
// so everything here is testable without a window).
package app
