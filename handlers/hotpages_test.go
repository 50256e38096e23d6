package handlers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHotPagesStatements: the pages the benchmark measures most
// (internal/testkit/bench, issue 19) within their statement budgets, each
// statement logged (go test -v) so that a change in what a page sends is
// visible in review. The counts do not depend on the data: the 1,000-row
// checks are TestQueryBudgets and TestMissionPageQueryCount.
func TestHotPagesStatements(t *testing.T) {
	t.Parallel()
	f := newOverviewFixture(t)
	srv, n := countingServer(t, f.app)
	ids := f.seedTests(t, 10)
	test := f.path("/tests/" + ids[2].String()) // released, executed, rated: the blue form and its scale
	for _, p := range []struct {
		name, role, path string
		hx               bool
		budget           int
	}{
		{"home as lead", "lead", "/", false, 3},
		{"mission page as lead", "lead", f.path(""), false, 4},
		{"mission page as blue", "blue", f.path(""), false, 4},
		{"mission page, filtered", "lead", f.path("?group=category&tactic=TA0002"), false, 4},
		{"mission list (htmx)", "lead", f.path("?state=executed"), true, 4},
		{"test page as lead", "lead", test, false, 4},
		{"test page as blue", "blue", test, false, 4},
		{"test drawer (htmx)", "lead", test, true, 4},
	} {
		r := httptest.NewRequest(http.MethodGet, p.path, nil)
		r.AddCookie(f.cookies[p.role])
		if p.hx {
			r.Header.Set("HX-Request", "true")
		}
		w := httptest.NewRecorder()
		stop := n.Record()
		srv.ServeHTTP(w, r)
		stmts := stop()
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d", p.name, w.Code)
		}
		var b strings.Builder
		for i, s := range stmts {
			fmt.Fprintf(&b, "\n  %d. %s", i+1, strings.Join(strings.Fields(s.Query), " "))
		}
		t.Logf("%s: %d statements%s", p.name, len(stmts), b.String())
		if len(stmts) > p.budget {
			t.Errorf("%s: %d statements, budget %d", p.name, len(stmts), p.budget)
		}
	}
}
