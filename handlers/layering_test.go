package handlers

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// handlersLineBudget is the most lines of non-test Go the HTTP layer may
// hold: past it, logic is growing here instead of in the workflows. It was
// 7,000 until issue 20 added eight pages and forms (the tools registry,
// outcomes per tool, the Sigma import, the timeline, the gaps view, the
// tool figures), each handler a parse, one call and a render: 7,037 lines
// then. It was 7,500 until the retest, insights and expected-rules pages
// and issue 21's sign-in flows (second factor, OpenID Connect), about
// twenty routes whose handlers are again a parse, a call and a render,
// took it to 7,497. It was 8,500 until issue 22: the JSON API's glue
// (apiroutes.go: its route rows, bearer middleware and problem answers;
// the API's operations live in handlers/api, held to the same rules) and
// four pages (API tokens, service accounts, execution logs, VECTR and
// mission archive imports) took it to 9,175; 9,500 leaves room for fixes,
// not for logic.
const handlersLineBudget = 9500

// TestHandlersOnlySpeakHTTP keeps the application layer out of handlers
// (docs/ARCHITECTURE.md, "Layers"): no transactions, no SQL, no audit
// records, live events or notifications written here — workflows in the
// domain packages own those — and the package stays small.
func TestHandlersOnlySpeakHTTP(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	// The JSON API (handlers/api) is HTTP too: the same rules, its own
	// line count (its generated code, api.gen.go, aside).
	apiFiles, err := filepath.Glob("api/*.go")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, apiFiles...)
	// Calls that belong to workflows, by the selector they are made with.
	forbiddenCalls := map[string]string{
		"WithTx":          "opens a transaction",
		"Record":          "writes an audit record",
		"Publish":         "publishes a live event",
		"PublishTest":     "publishes a live event",
		"Send":            "sends a notification",
		"ExecContext":     "runs SQL",
		"QueryContext":    "runs SQL",
		"QueryRowContext": "runs SQL",
		"BeginTx":         "opens a transaction",
		"Tx":              "opens a transaction",
	}
	// Only these packages' functions of those names are the workflows'.
	forbiddenPkgs := map[string]bool{"database": true, "audit": true, "live": true}
	sqlText := regexp.MustCompile(`(?is)\bselect\b.+\bfrom\b|\binsert\s+into\b|\bupdate\s+\w+\s+set\b|\bdelete\s+from\b|pg_advisory|pg_notify`)
	lines := 0
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || strings.HasSuffix(name, ".gen.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(name) == "." {
			lines += bytes.Count(src, []byte("\n"))
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CallExpr:
				sel, ok := x.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				why, bad := forbiddenCalls[sel.Sel.Name]
				if !bad {
					return true
				}
				if id, ok := sel.X.(*ast.Ident); ok && forbiddenPkgs[id.Name] {
					t.Errorf("%s: %s.%s %s: that is a workflow's job", fset.Position(x.Pos()), id.Name, sel.Sel.Name, why)
					return true
				}
				switch sel.Sel.Name {
				case "ExecContext", "QueryContext", "QueryRowContext", "BeginTx", "Tx":
					t.Errorf("%s: .%s %s: that is a workflow's or read model's job", fset.Position(x.Pos()), sel.Sel.Name, why)
				case "Send":
					if inner, ok := sel.X.(*ast.SelectorExpr); ok && inner.Sel.Name == "Notifier" {
						t.Errorf("%s: Notifier.Send %s: that is a workflow's job", fset.Position(x.Pos()), why)
					}
				}
			case *ast.BasicLit:
				if x.Kind != token.STRING {
					return true
				}
				if s, err := strconv.Unquote(x.Value); err == nil && sqlText.MatchString(s) {
					t.Errorf("%s: SQL text %q: queries belong to the domain packages", fset.Position(x.Pos()), s)
				}
			}
			return true
		})
	}
	if lines >= handlersLineBudget {
		t.Errorf("handlers holds %d lines of non-test Go; the budget is %d", lines, handlersLineBudget)
	}
	t.Logf("handlers: %d lines of non-test Go", lines)
}
