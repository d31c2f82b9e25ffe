package app

import (
	"os"
	"reflect"
	"regexp"
	"testing"
)

// TestBridgeInSync: every method Wails binds on *App is typed in the
// frontend's lib/bridge.ts (GoApp), so the window never calls a binding
// TypeScript does not know, or misses one Go added.
func TestBridgeInSync(t *testing.T) {
	b, err := os.ReadFile("../frontend/src/lib/bridge.ts")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)export interface GoApp \{(.*?)\n\}`).FindSubmatch(b)
	if block == nil {
		t.Fatal("no GoApp interface in bridge.ts")
	}
	typed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  ([A-Z][A-Za-z0-9]*)\(`).FindAllSubmatch(block[1], -1) {
		typed[string(m[1])] = true
	}
	tp := reflect.TypeOf(&App{})
	for i := 0; i < tp.NumMethod(); i++ {
		name := tp.Method(i).Name
		if !typed[name] {
			t.Errorf("App.%s is bound by Wails but missing from frontend/src/lib/bridge.ts (GoApp)", name)
		}
		delete(typed, name)
	}
	for name := range typed {
		t.Errorf("bridge.ts types %s, which *App does not have", name)
	}
}
