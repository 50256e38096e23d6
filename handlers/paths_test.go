package handlers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"sort"
	"strconv"
	"testing"

	"violet/static"
)

// pathConstants reads the route templates declared in internal/paths.
func pathConstants(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../internal/paths/paths.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			v := spec.(*ast.ValueSpec)
			for i, name := range v.Names {
				lit, ok := v.Values[i].(*ast.BasicLit)
				if !ok {
					continue
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out[s] = name.Name
			}
		}
	}
	return out
}

// TestRoutesAreNamedInPaths: every template of the route table is a
// constant of internal/paths, the names links are built from, and every
// constant is a route, so a link built with paths.URL always reaches a
// route (and a removed route breaks the build of its links).
func TestRoutesAreNamedInPaths(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, io.Discard)
	named := pathConstants(t)
	if len(named) < 100 {
		t.Fatalf("read %d templates from internal/paths; expected the whole table", len(named))
	}
	inTable := map[string]bool{}
	var missing []string
	for _, r := range s.Routes() {
		inTable[r.Path] = true
		if r.Path == static.Prefix+"*" {
			continue // the assets' prefix is the static package's
		}
		if r.API {
			continue // the API's are the OpenAPI document's (handlers/api)
		}
		if _, ok := named[r.Path]; !ok {
			missing = append(missing, r.Method+" "+r.Path)
		}
	}
	var unused []string
	for p, name := range named {
		if !inTable[p] {
			unused = append(unused, "paths."+name+" = "+p)
		}
	}
	sort.Strings(missing)
	sort.Strings(unused)
	if len(missing) > 0 {
		t.Errorf("routes without a name in internal/paths:\n%v", missing)
	}
	if len(unused) > 0 {
		t.Errorf("names in internal/paths that are no route:\n%v", unused)
	}
}
