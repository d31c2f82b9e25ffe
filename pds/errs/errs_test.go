package errs_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/hearth-pds/hearth/pds/errs"
)

// Every Err… variable declared in errs.go is in Kinds (which the XRPC error
// map is checked against), so a new kind cannot be left unmapped.
func TestKindsListsEveryKind(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "errs.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.VAR {
			continue
		}
		for _, spec := range g.Specs {
			for _, n := range spec.(*ast.ValueSpec).Names {
				if strings.HasPrefix(n.Name, "Err") {
					declared++
				}
			}
		}
	}
	if declared != len(errs.Kinds) {
		t.Fatalf("errs.go declares %d Err… kinds, Kinds lists %d", declared, len(errs.Kinds))
	}
	seen := map[error]bool{}
	for _, k := range errs.Kinds {
		if seen[k] {
			t.Fatalf("%v listed twice", k)
		}
		seen[k] = true
	}
}

func TestErrorIsItsKindThroughWrapping(t *testing.T) {
	cause := errors.New("disk says no")
	for _, tc := range []struct {
		name string
		err  error
		kind error
		msg  string
	}{
		{"new", errs.New(errs.ErrRecordNotFound, "no record %s", "x"), errs.ErrRecordNotFound, "no record x"},
		{"wrapped by fmt", fmt.Errorf("context: %w", errs.RepoNotFound("did:plc:abc")), errs.ErrRepoNotFound, "Could not find repo: did:plc:abc"},
		{"with cause", errs.Wrap(errs.ErrInvalidSwap, cause, "swap failed"), errs.ErrInvalidSwap, "swap failed"},
		{"prefixed", errs.Prefix(errs.Invalid("bad rkey"), "write %d: ", 3), errs.ErrInvalidRequest, "write 3: bad rkey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.kind) {
				t.Fatalf("%v is not %v", tc.err, tc.kind)
			}
			if got := errs.Message(tc.err); got != tc.msg {
				t.Fatalf("message %q, want %q", got, tc.msg)
			}
			for _, other := range errs.Kinds {
				if other != tc.kind && errors.Is(tc.err, other) {
					t.Fatalf("%v is also %v", tc.err, other)
				}
			}
		})
	}
	if w := errs.Wrap(errs.ErrInvalidSwap, cause, "x"); !errors.Is(w, cause) {
		t.Fatal("the cause is not reachable with errors.Is")
	}
	if errs.Message(cause) != "" {
		t.Fatal("a plain error has a caller-facing message")
	}
}
