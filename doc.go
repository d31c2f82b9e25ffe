// Hearth is a desktop app that runs your own AT Protocol PDS. This is the
// Wails entry point; the engine is in pds/, the shell's Go side in app/.
package main
