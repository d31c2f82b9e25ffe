package app

import (
	"fmt"
	"runtime/debug"
)

// guardJob, deferred by a binding that decodes files from outside (a CAR to
// inspect, import or browse), turns a panic into an error for the window:
// Wails runs bindings on their own goroutines, where a panic would take the
// whole app (and the PDS it hosts) down. The engine checks CARs before
// decoding them; this is the net under that.
func (a *App) guardJob(job string, err *error) {
	if p := recover(); p != nil {
		a.log.Error("panic in a desktop job", "job", job, "panic", p, "stack", string(debug.Stack()))
		*err = fmt.Errorf("%s failed: the file could not be decoded", job)
	}
}
