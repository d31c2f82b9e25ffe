package conformance

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vectorLine is one test vector from a line-based interop file.
type vectorLine struct {
	lineNo int
	value  string
}

// name is a subtest name that keeps significant whitespace visible.
func (v vectorLine) name() string {
	return fmt.Sprintf("L%d=%q", v.lineNo, v.value)
}

// readLines reads a line-based vector file from testdata/: one vector per
// line, blank lines and lines starting with '#' are skipped. Whitespace is
// significant (some invalid vectors end with a space), so lines are not
// trimmed.
func readLines(t *testing.T, name string) []vectorLine {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}()
	var out []vectorLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, vectorLine{lineNo: n, value: line})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return out
}

// readJSON decodes a JSON vector file from testdata/ into v.
func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
