package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"violet/internal/testkit/testdb"
)

// TestMedianStats: each field of a cell is the median of its runs (one
// slow run does not move it), requests and errors add up.
func TestMedianStats(t *testing.T) {
	ms := time.Millisecond
	got := medianStats([]Stats{
		{Concurrency: 4, Requests: 100, RPS: 100, Mean: 10 * ms, P50: 9 * ms, P95: 20 * ms, P99: 30 * ms},
		{Concurrency: 4, Requests: 10, Errors: 1, FirstError: "boom", RPS: 10, Mean: 100 * ms, P50: 90 * ms, P95: 200 * ms, P99: 300 * ms},
		{Concurrency: 4, Requests: 120, RPS: 120, Mean: 8 * ms, P50: 7 * ms, P95: 18 * ms, P99: 25 * ms},
	})
	want := Stats{Concurrency: 4, Runs: 3, Requests: 230, Errors: 1, FirstError: "boom", RPS: 100,
		Mean: 10 * ms, P50: 9 * ms, P95: 20 * ms, P99: 30 * ms}
	if got != want {
		t.Errorf("median of 3 runs\n got %+v\nwant %+v", got, want)
	}
	if m := median([]time.Duration{4, 1, 3, 2}); m != 2 {
		t.Errorf("median of an even count: %v, want the mean of the middle two (2)", m)
	}
	if m := medianFloat([]float64{3, 1}); m != 2 {
		t.Errorf("medianFloat: %v", m)
	}
}

// TestMergeRuns: the catalogue timings of several runs become one line
// each, with the median and every run kept.
func TestMergeRuns(t *testing.T) {
	r := &Report{Timings: []Timing{
		{Name: "migrate", Took: 5},
		{Name: "sync", Took: 30, Outcome: "800 added"}, {Name: "re-sync", Took: 9},
		{Name: "sync", Took: 10}, {Name: "re-sync", Took: 7, Failures: "lost"},
		{Name: "sync", Took: 20}, {Name: "re-sync", Took: 8},
	}}
	r.mergeRuns()
	want := []Timing{
		{Name: "migrate", Took: 5},
		{Name: "sync", Took: 20, Outcome: "800 added", Runs: []time.Duration{30, 10, 20}},
		{Name: "re-sync", Took: 8, Failures: "lost", Runs: []time.Duration{9, 7, 8}},
	}
	got, _ := json.Marshal(r.Timings)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Errorf("merged\n got %s\nwant %s", got, exp)
	}
}

// TestCompareReportFormat: the comparison names both sides, gives each
// page's ratios new/ref and its statements per request, says why a page
// was not measured, and is valid JSON with the ratios.
func TestCompareReportFormat(t *testing.T) {
	ms := time.Millisecond
	r := &CompareReport{New: "v2-dirty", Ref: "main (abcdef123456)", Runs: 3, Duration: time.Second, Concurrency: []int{1},
		Timings: []CompareTiming{{Name: "ATT&CK sync into an empty catalogue", New: 1500 * ms, Ref: 3000 * ms, Ratio: 0.5}},
		Pages: []ComparePage{
			{Name: "mission 10 tests", Path: "/missions/x", New: CompareSide{PerRequest: 3}, Ref: CompareSide{PerRequest: 8},
				Cells: []CompareCell{{Concurrency: 1, New: Stats{RPS: 600, P50: 1500 * time.Microsecond, P99: 3 * ms},
					Ref: Stats{RPS: 200, P50: 5 * ms, P99: 12 * ms}, P50Ratio: 0.3, P99Ratio: 0.25, RPSRatio: 3}}},
			{Name: "queues", Path: "/queues", Error: "main (abcdef123456) answered 404, want 200"},
		}}
	var out strings.Builder
	r.WriteMarkdown(&out, "make bench BENCHFLAGS='-compare main'")
	md := out.String()
	for _, want := range []string{"v2-dirty against main (abcdef123456)", "median of 3 runs",
		"new/ref", "mission 10 tests", "600", "200", "3.00", "0.30", "0.25", "1.50 ms", "5.00 ms", "3.0", "8.0",
		"queues", "answered 404, want 200", "ATT&CK sync into an empty catalogue", "new/ref 0.50", "-compare main"} {
		if !strings.Contains(md, want) {
			t.Errorf("the comparison lacks %q:\n%s", want, md)
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"p50_new_over_ref":0.3`, `"rps_new_over_ref":3`, `"statements_per_request":8`, `"error":"main`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the JSON lacks %s: %s", want, b)
		}
	}
	if got := abOrder(0); got[0] != 0 {
		t.Errorf("run 0 starts with %v", got)
	}
	if got := abOrder(1); got[0] != 1 {
		t.Errorf("run 1 starts with %v", got)
	}
}

// TestStatStatements: on a cluster started with pg_stat_statements, a
// page's statements are read between a reset and a read, with their count
// per request and their execute and planning times; the bench's own
// statements are left out.
func TestStatStatements(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of its own")
	}
	c, err := testdb.StartClusterWith(testdb.ClusterOptions{Settings: testdb.StatStatementsSettings()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove()
	db, err := sql.Open("postgres", c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	s := enableStatStatements(ctx, db)
	if s == nil {
		t.Fatal("pg_stat_statements is not recording on a cluster started with it")
	}
	var log statementLog
	for range 2 {
		if err := log.during(ctx, s, func() int {
			for i := range 3 {
				var n int
				if err := db.QueryRowContext(ctx, `SELECT  count(*)
					FROM pg_class WHERE relpages >= $1`, i).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if err := db.QueryRowContext(ctx, `SELECT 1 + $1::int`, i).Scan(&n); err != nil {
					t.Fatal(err)
				}
			}
			var n int
			if err := db.QueryRowContext(ctx, `SELECT length($1::text)`, "rare").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return 3 // requests
		}); err != nil {
			t.Fatal(err)
		}
	}
	got := log.stats()
	if len(got) != 3 {
		t.Fatalf("statements %+v, want 3", got)
	}
	var first StatementStat
	for _, s := range got {
		if strings.HasPrefix(s.Query, "SELECT count(*) FROM pg_class WHERE relpages >= $1") {
			first = s
		}
	}
	if first.PerRequest != 1 || first.Calls != 6 {
		t.Errorf("the pg_class statement (normalised): %+v in %+v", first, got)
	}
	if first.MeanExecMS <= 0 || first.MeanPlanMS <= 0 || first.Plans == 0 {
		t.Errorf("no execute or planning time: %+v", first)
	}
	if last := got[2]; last.Calls != 2 || last.PerRequest < 0.33 || last.PerRequest > 0.34 || !strings.Contains(last.Query, "length") {
		t.Errorf("the rarest statement: %+v", last)
	}
	var out strings.Builder
	writeStatements(&out, []PageResult{{Name: "home", Statements: got, StatementSource: SourceStatStatements}})
	if !strings.Contains(out.String(), "home — statements (pg_stat_statements)") || !strings.Contains(out.String(), "relpages") {
		t.Errorf("the statements section:\n%s", out.String())
	}
}
