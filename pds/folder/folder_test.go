package folder

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkSecure measures the start-up mode repair of a folder with 10,000
// blob files in 100 account folders: the one-time walk (Layout older than
// the current one) and the check every later start does.
func BenchmarkSecure(b *testing.B) {
	dir := b.TempDir()
	for i := range 100 {
		d := filepath.Join(dir, "blobs", fmt.Sprintf("did:plc:%03d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		for j := range 100 {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("blob%03d", j)), []byte("x"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("first-start-walk-10k-files", func(b *testing.B) {
		for b.Loop() {
			if _, err := Secure(dir, State{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("later-starts", func(b *testing.B) {
		for b.Loop() {
			if _, err := Secure(dir, State{Layout: Layout}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
