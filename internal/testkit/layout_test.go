// Package testkit_test checks where the test machinery sits: under
// internal/testkit, out of the import flow of the binary that ships.
package testkit_test

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTheBinaryImportsNoTestMachinery lists the packages violet is built
// from and fails on one from internal/testkit: test databases, the test
// server, the browser driver and the benchmark machinery never ship.
func TestTheBinaryImportsNoTestMachinery(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "violet/cmd/violet").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list gave %d packages; expected the whole binary", len(deps))
	}
	for _, p := range deps {
		if strings.HasPrefix(p, "violet/internal/testkit") {
			t.Errorf("the violet binary imports %s", p)
		}
	}
}

// TestOnlyServeImportsHandlers: the HTTP layer is wired by `violet serve`
// alone; the other commands (migrate, invite, attack sync, atomic import,
// demo, backup…) call the workflows directly.
func TestOnlyServeImportsHandlers(t *testing.T) {
	files, err := filepath.Glob("../../cmd/violet/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no command sources: %v", err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p == "violet/handlers" && filepath.Base(name) != "serve.go" {
				t.Errorf("%s imports violet/handlers; only serve.go may", filepath.Base(name))
			}
		}
	}
}
