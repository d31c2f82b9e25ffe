// Package pds is Hearth's engine: a complete AT Protocol Personal Data Server
// on one SQLite database and a blob folder. Open wires the components (each
// in its own package under pds/, owning its tables) on one store; the Engine's
// own methods are the few operations that span components (creating,
// deactivating and deleting accounts, changing a handle), each in one
// transaction. The XRPC handlers (pds/xrpc), the desktop shell (app/) and
// hearthd call the components through the Engine. It never imports anything
// GUI-related.
package pds
