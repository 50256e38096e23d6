package bench_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"violet/internal/testkit/bench"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestRunSmall runs the whole benchmark at a tiny scale and for a few
// milliseconds a cell, so that `make bench` keeps working: every page
// answers as expected under load, the floors are measured, the mission
// page's query count is the same at both sizes, and the report is
// written. Two runs: each cell and each catalogue timing is a median, the
// second sync in a database of its own; the test cluster has no
// pg_stat_statements, so the statements are the driver's.
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a dataset and drives every page")
	}
	s := bench.Scale{Users: 4, Missions: 2, SmallTests: 3, BigTests: 40, TagsPerTest: 3, Evidence: 2}
	rep, err := bench.Run(context.Background(), bench.Options{
		DatabaseURL: testdb.EmptyURL(t), Scale: s, Concurrency: []int{1, 4},
		Duration: 60 * time.Millisecond, AttackBundle: "../../attack/testdata/mini-bundle.json",
		StatementCache: 16, Version: "test", Runs: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Pages) != len(bench.Pages(&bench.Dataset{Scale: s})) {
		t.Fatalf("%d pages measured", len(rep.Pages))
	}
	for _, p := range rep.Pages {
		if len(p.Cells) != 2 {
			t.Errorf("%s: %d cells, want 2", p.Name, len(p.Cells))
		}
		if p.Queries > 0 && (len(p.Statements) == 0 || p.StatementSource != bench.SourceDriver) {
			t.Errorf("%s: %d statements from %q", p.Name, len(p.Statements), p.StatementSource)
		}
		var per float64
		for _, st := range p.Statements {
			per += st.PerRequest
		}
		if int(per) != p.Queries {
			t.Errorf("%s: %v statements per request, %d captured", p.Name, per, p.Queries)
		}
		for _, c := range p.Cells {
			if c.Page.Runs != 2 {
				t.Errorf("%s c=%d: the median of %d runs", p.Name, c.Concurrency, c.Page.Runs)
			}
			if c.Page.Requests == 0 || c.Page.Errors > 0 {
				t.Errorf("%s c=%d: %d requests, %d errors (%s)", p.Name, c.Concurrency, c.Page.Requests, c.Page.Errors, c.Page.FirstError)
			}
			if p.Queries > 0 && p.Name != "login (POST, argon2id)" && (c.SQLFloor == nil || c.SQLFloor.Requests == 0 || c.SQLFloor.Errors > 0) {
				t.Errorf("%s c=%d: no SQL floor: %+v", p.Name, c.Concurrency, c.SQLFloor)
			}
			if p.Name != "login (POST, argon2id)" && (c.HTTPFloor == nil || c.HTTPFloor.Errors > 0) {
				t.Errorf("%s c=%d: no HTTP floor: %+v", p.Name, c.Concurrency, c.HTTPFloor)
			}
		}
	}
	for _, tm := range rep.Timings {
		if strings.HasPrefix(tm.Name, "ATT&CK") && len(tm.Runs) != 2 {
			t.Errorf("%s: runs %v, want 2", tm.Name, tm.Runs)
		}
	}
	var sameQueries *bench.Budget
	for i, b := range rep.Budgets {
		if strings.Contains(b.Name, "same query count") {
			sameQueries = &rep.Budgets[i]
		}
	}
	if sameQueries == nil || !sameQueries.Met {
		t.Errorf("mission page query budget: %+v", sameQueries)
	}
	if rep.Rows["mission_tests"] != s.Missions*s.SmallTests+s.SmallTests+s.BigTests ||
		rep.Rows["evidence_files"] != s.Evidence*s.Evidence {
		t.Errorf("rows %v", rep.Rows)
	}
	var out strings.Builder
	rep.WriteMarkdown(&out, "make bench")
	for _, want := range []string{"mission 40 tests", "report 40 tests", "SQL floor", "Budgets"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
}
