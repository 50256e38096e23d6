package bench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"violet/internal/testkit/sqltrace"
)

// StatementStat is one distinct statement a page ran while it was measured:
// its normalised text, how many times one request ran it, and its mean
// execute and planning times. With pg_stat_statements (the bench's own
// cluster) the numbers come from PostgreSQL over every measured request of
// the page; without it (a -database-url server lacking the extension) they
// come from the driver: the statements one request sent, each replayed and
// timed by the round trip, planning included and not told apart.
type StatementStat struct {
	Query      string  `json:"query"`
	PerRequest float64 `json:"per_request"`
	Calls      int64   `json:"calls"`
	MeanExecMS float64 `json:"mean_exec_ms"`
	MeanPlanMS float64 `json:"mean_plan_ms"`
	// Plans is how many of Calls were planned (fewer when a cached generic
	// plan was reused); 0 from the driver.
	Plans       int64   `json:"plans"`
	RowsPerCall float64 `json:"rows_per_call"`
}

// Statement sources of PageResult.StatementSource.
const (
	SourceStatStatements = "pg_stat_statements"
	SourceDriver         = "driver (round trip, sqltrace)"
)

// statStatements reads pg_stat_statements of one database. It is created by
// enableStatStatements in its own schema, so that it stays out of the
// schema Atlas migrates.
type statStatements struct {
	db   *sql.DB
	dbid int64
}

// enableStatStatements creates the extension in the database of db (schema
// bench_stats) and checks it records; it returns nil when the server did
// not preload it, and the caller falls back to the driver's timing.
func enableStatStatements(ctx context.Context, db *sql.DB) *statStatements {
	for _, q := range []string{`CREATE SCHEMA IF NOT EXISTS bench_stats`,
		`CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA bench_stats`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil
		}
	}
	s := &statStatements{db: db}
	if err := db.QueryRowContext(ctx, `SELECT oid FROM pg_database WHERE datname = current_database()`).Scan(&s.dbid); err != nil {
		return nil
	}
	// Reading the view fails unless the library was preloaded at start.
	if err := s.reset(ctx); err != nil {
		return nil
	}
	if _, err := s.read(ctx); err != nil {
		return nil
	}
	return s
}

// reset forgets this database's statements (the other databases of the
// cluster, e.g. the other side of -compare, keep theirs).
func (s *statStatements) reset(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `SELECT bench_stats.pg_stat_statements_reset(0, $1::oid, 0)`, s.dbid)
	return err
}

// stmtTotals are one statement's sums since the last reset.
type stmtTotals struct {
	query          string
	calls, plans   int64
	rows           int64
	execMS, planMS float64
}

// read returns this database's statements since the last reset, by query
// id, leaving out the bench's own reads and resets.
func (s *statStatements) read(ctx context.Context) (map[int64]stmtTotals, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT queryid, query, calls, plans, rows, total_exec_time, total_plan_time
		FROM bench_stats.pg_stat_statements WHERE dbid = $1::oid AND query NOT LIKE '%pg_stat_statements%'`, s.dbid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]stmtTotals{}
	for rows.Next() {
		var (
			id int64
			t  stmtTotals
		)
		if err := rows.Scan(&id, &t.query, &t.calls, &t.plans, &t.rows, &t.execMS, &t.planMS); err != nil {
			return nil, err
		}
		out[id] = t
	}
	return out, rows.Err()
}

// statementLog adds up one page's statements over the loads it measured.
type statementLog struct {
	byID     map[int64]stmtTotals
	requests int
}

// during resets the statistics, runs load (which returns how many requests
// it sent) and adds what the statistics recorded; without s it only runs
// load.
func (l *statementLog) during(ctx context.Context, s *statStatements, load func() int) error {
	if s == nil {
		load()
		return nil
	}
	if err := s.reset(ctx); err != nil {
		return err
	}
	n := load()
	got, err := s.read(ctx)
	if err != nil {
		return err
	}
	if l.byID == nil {
		l.byID = map[int64]stmtTotals{}
	}
	l.requests += n
	for id, t := range got {
		sum := l.byID[id]
		sum.query = t.query
		sum.calls += t.calls
		sum.plans += t.plans
		sum.rows += t.rows
		sum.execMS += t.execMS
		sum.planMS += t.planMS
		l.byID[id] = sum
	}
	return nil
}

// stats returns the page's statements, the most frequent first (then the
// slowest).
func (l *statementLog) stats() []StatementStat {
	out := make([]StatementStat, 0, len(l.byID))
	for _, t := range l.byID {
		st := StatementStat{Query: normalise(t.query), Calls: t.calls, Plans: t.plans}
		if l.requests > 0 {
			st.PerRequest = float64(t.calls) / float64(l.requests)
		}
		if t.calls > 0 {
			st.MeanExecMS = t.execMS / float64(t.calls)
			st.RowsPerCall = float64(t.rows) / float64(t.calls)
		}
		if t.plans > 0 {
			st.MeanPlanMS = t.planMS / float64(t.plans)
		}
		out = append(out, st)
	}
	sortStatements(out)
	return out
}

func sortStatements(s []StatementStat) {
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].PerRequest != s[j].PerRequest {
			return s[i].PerRequest > s[j].PerRequest
		}
		if a, b := s[i].MeanExecMS+s[i].MeanPlanMS, s[j].MeanExecMS+s[j].MeanPlanMS; a != b {
			return a > b
		}
		return s[i].Query < s[j].Query
	})
}

// driverStatements is the fallback without pg_stat_statements: the
// statements one request sent (recorded at the driver), grouped by text,
// each replayed reps times through db and timed by its round trip.
func driverStatements(ctx context.Context, db *sql.DB, recorded []sqltrace.Statement, reps int) ([]StatementStat, error) {
	byText := map[string]*StatementStat{}
	var order []string
	for _, st := range recorded {
		q := normalise(st.Query)
		s, ok := byText[q]
		if !ok {
			s = &StatementStat{Query: q}
			byText[q] = s
			order = append(order, q)
			var total time.Duration
			for range max(reps, 0) {
				start := time.Now()
				if err := SQLFloor(db, []sqltrace.Statement{st})(ctx); err != nil {
					return nil, err
				}
				total += time.Since(start)
			}
			if reps > 0 {
				s.MeanExecMS = float64(total) / float64(reps) / float64(time.Millisecond)
			}
		}
		s.Calls++
		s.PerRequest++
	}
	out := make([]StatementStat, 0, len(order))
	for _, q := range order {
		out = append(out, *byText[q])
	}
	sortStatements(out)
	return out, nil
}

// normalise folds a statement's white space to single spaces, so that the
// same SQL written over several lines reads as one line in the report.
func normalise(q string) string { return strings.Join(strings.Fields(q), " ") }

// medianStats returns the run whose latencies are the median of runs,
// field by field: each rate and percentile is the median of that field
// over the runs (so a cell of 3 runs is not swayed by one noisy run);
// requests and errors are summed, the first error kept.
func medianStats(runs []Stats) Stats {
	if len(runs) == 0 {
		return Stats{}
	}
	out := Stats{Concurrency: runs[0].Concurrency, Runs: len(runs)}
	field := func(get func(Stats) time.Duration) time.Duration {
		ds := make([]time.Duration, len(runs))
		for i, r := range runs {
			ds[i] = get(r)
		}
		return median(ds)
	}
	out.Elapsed = field(func(s Stats) time.Duration { return s.Elapsed })
	out.Mean = field(func(s Stats) time.Duration { return s.Mean })
	out.P50 = field(func(s Stats) time.Duration { return s.P50 })
	out.P95 = field(func(s Stats) time.Duration { return s.P95 })
	out.P99 = field(func(s Stats) time.Duration { return s.P99 })
	rps := make([]float64, len(runs))
	for i, r := range runs {
		rps[i] = r.RPS
		out.Requests += r.Requests
		out.Errors += r.Errors
		if out.FirstError == "" {
			out.FirstError = r.FirstError
		}
	}
	out.RPS = medianFloat(rps)
	return out
}

// medianFloat returns the median of xs (the mean of the middle two for an
// even count).
func medianFloat(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// writeStatements prints each page's statements, one line each.
func writeStatements(w io.Writer, pages []PageResult) {
	for _, p := range pages {
		if len(p.Statements) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s — statements (%s): per request, mean execute, mean planning (share of calls planned), rows per call\n", p.Name, p.StatementSource)
		for _, s := range p.Statements {
			q := s.Query
			if len(q) > 160 {
				q = q[:160] + "…"
			}
			planned := "  -"
			if s.Calls > 0 && p.StatementSource == SourceStatStatements {
				planned = fmt.Sprintf("%3.0f%%", 100*float64(s.Plans)/float64(s.Calls))
			}
			fmt.Fprintf(w, "  %5.2f × %7.3f ms + %7.3f ms plan (%s)  %7.1f rows  %s\n", s.PerRequest, s.MeanExecMS, s.MeanPlanMS, planned, s.RowsPerCall, q)
		}
	}
}
