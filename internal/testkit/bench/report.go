package bench

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is everything one run measured; it is written as a table, as
// JSON and as the dated markdown kept under docs/.
type Report struct {
	Started     time.Time        `json:"started"`
	Finished    time.Time        `json:"finished"`
	Version     string           `json:"violet_version"`
	Machine     Machine          `json:"machine"`
	Scale       Scale            `json:"scale"`
	Rows        map[string]int   `json:"rows"`
	Concurrency []int            `json:"concurrency"`
	Duration    time.Duration    `json:"cell_duration_ns"`
	Runs        int              `json:"runs"` // each cell and catalogue timing is the median of this many runs
	Timings     []Timing         `json:"timings"`
	Pages       []PageResult     `json:"pages"`
	Process     *ProcessResult   `json:"process,omitempty"`
	Instances   *InstancesResult `json:"instances,omitempty"`
	Budgets     []Budget         `json:"budgets"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryMB   int    `json:"memory_mb"`
	Kernel     string `json:"kernel"`
	Go         string `json:"go"`
	PostgreSQL string `json:"postgresql"`
}

// Timing is one timed operation (sync, import, generation).
type Timing struct {
	Name     string        `json:"name"`
	Took     time.Duration `json:"took_ns"`
	Budget   time.Duration `json:"budget_ns,omitempty"`
	Outcome  string        `json:"outcome,omitempty"`
	Failures string        `json:"error,omitempty"`
	// Runs are the times of every run when Took is their median.
	Runs []time.Duration `json:"runs_ns,omitempty"`
}

// PageResult is one page at every concurrency.
type PageResult struct {
	Mission string `json:"mission,omitempty"`
	Name    string `json:"name"`
	Path    string `json:"path"`
	Status  int    `json:"status"`
	Bytes   int    `json:"bytes"`
	Queries int    `json:"queries"` // statements of one request served alone
	Cells   []Cell `json:"cells"`
	// Statements are every distinct statement the page ran while its
	// cells were measured, from StatementSource.
	Statements      []StatementStat `json:"statements,omitempty"`
	StatementSource string          `json:"statement_source,omitempty"`
}

// Cell is one page at one concurrency, with its floors.
type Cell struct {
	Concurrency       int     `json:"concurrency"`
	Page              Stats   `json:"page"`
	QueriesPerRequest float64 `json:"queries_per_request"`
	PeakRSS           int64   `json:"peak_rss_bytes"` // of the benchmark process (server and load generator)
	SQLFloor          *Stats  `json:"sql_floor,omitempty"`
	HTTPFloor         *Stats  `json:"http_floor,omitempty"`
	SQLRatio          float64 `json:"page_over_sql_floor,omitempty"`  // mean latency ratio
	HTTPRatio         float64 `json:"page_over_http_floor,omitempty"` // mean latency ratio
}

// ProcessResult is measured on a separate `violet serve` process: the
// time from exec to /readyz answering 200 (migrations at head), and the
// small mission page at concurrency 16 with the process's own RSS.
type ProcessResult struct {
	Ready     []time.Duration `json:"ready_ns"`
	Small     Stats           `json:"small_mission_c16"`
	PeakRSS   int64           `json:"peak_rss_bytes"`
	ExitClean bool            `json:"exit_clean"`
}

// Budget is one performance budget (docs/ARCHITECTURE.md) and whether this run
// met it.
type Budget struct {
	Name     string `json:"name"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// time runs fn, records how long it took against budget (0: none), and
// returns fn's error.
func (r *Report) time(name string, budget time.Duration, fn func() (string, error)) error {
	start := time.Now()
	outcome, err := fn()
	t := Timing{Name: name, Took: time.Since(start), Budget: budget, Outcome: outcome}
	if err != nil {
		t.Failures = err.Error()
	}
	r.Timings = append(r.Timings, t)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// mergeRuns folds the timings recorded under one name by several runs
// into one, whose Took is their median; the outcome is the first run's and
// an error of any run is kept.
func (r *Report) mergeRuns() {
	var out []Timing
	at := map[string]int{}
	for _, t := range r.Timings {
		i, seen := at[t.Name]
		if !seen {
			at[t.Name] = len(out)
			t.Runs = []time.Duration{t.Took}
			out = append(out, t)
			continue
		}
		m := &out[i]
		m.Runs = append(m.Runs, t.Took)
		m.Took = median(m.Runs)
		if m.Failures == "" {
			m.Failures = t.Failures
		}
	}
	for i := range out {
		if len(out[i].Runs) < 2 {
			out[i].Runs = nil
		}
	}
	r.Timings = out
}

func (r *Report) page(key string) *PageResult {
	for i := range r.Pages {
		if r.Pages[i].Mission == key {
			return &r.Pages[i]
		}
	}
	return nil
}

func (p *PageResult) cell(conc int) *Cell {
	for i := range p.Cells {
		if p.Cells[i].Concurrency == conc {
			return &p.Cells[i]
		}
	}
	return nil
}

// checkBudgets compares the run with the performance budgets
// (docs/ARCHITECTURE.md, "Performance budgets").
func checkBudgets(r *Report) []Budget {
	var out []Budget
	small, big := r.page("small"), r.page("big")
	if small != nil && big != nil {
		out = append(out, Budget{Name: fmt.Sprintf("mission page: same query count at %d and %d tests", r.Scale.SmallTests, r.Scale.BigTests),
			Measured: fmt.Sprintf("%d and %d statements", small.Queries, big.Queries), Met: small.Queries == big.Queries})
	}
	if big != nil {
		if c := big.cell(1); c != nil && c.SQLFloor != nil {
			out = append(out, Budget{Name: fmt.Sprintf("mission page with %d tests: server time ≤ 2× its SQL floor (c=1, mean)", r.Scale.BigTests),
				Measured: fmt.Sprintf("%s vs %s: %.2f×", ms(c.Page.Mean), ms(c.SQLFloor.Mean), c.SQLRatio), Met: c.SQLRatio <= 2})
		}
	}
	smallStats, rss, where := Stats{}, int64(0), ""
	if r.Process != nil {
		smallStats, rss, where = r.Process.Small, r.Process.PeakRSS, "violet serve process"
	} else if small != nil {
		if c := small.cell(16); c != nil {
			smallStats, rss, where = c.Page, c.PeakRSS, "in-process, RSS includes the load generator"
		}
	}
	if smallStats.Requests > 0 {
		out = append(out,
			Budget{Name: fmt.Sprintf("%d-test mission page at c=16: ≥ 1,500 requests/s (%s)", r.Scale.SmallTests, where),
				Measured: fmt.Sprintf("%.0f/s", smallStats.RPS), Met: smallStats.RPS >= 1500},
			Budget{Name: fmt.Sprintf("%d-test mission page at c=16: p99 ≤ 30 ms (%s)", r.Scale.SmallTests, where),
				Measured: ms(smallStats.P99), Met: smallStats.P99 <= 30*time.Millisecond},
			Budget{Name: "RSS ≤ 80 MB under that load (" + where + ")",
				Measured: mb(rss), Met: rss > 0 && rss <= 80<<20})
	}
	out = append(out, pageBudgets(r)...)
	if r.Process != nil && len(r.Process.Ready) > 0 {
		med := median(r.Process.Ready)
		out = append(out, Budget{Name: "ready ≤ 500 ms after start, migrations at head (median of starts)",
			Measured: ms(med), Met: med <= 500*time.Millisecond})
		out = append(out, Budget{Name: "SIGTERM: the process exits 0", Measured: strconv.FormatBool(r.Process.ExitClean), Met: r.Process.ExitClean})
	}
	for _, t := range r.Timings {
		if t.Budget > 0 {
			out = append(out, Budget{Name: fmt.Sprintf("%s ≤ %s", t.Name, t.Budget), Measured: ms(t.Took) + " (" + t.Outcome + ")",
				Met: t.Failures == "" && t.Took <= t.Budget})
		}
	}
	return out
}

// pageBudgets are issue 19's budgets of single pages, in-process: statement
// counts, latencies at c=1 and the report's peak RSS (of the benchmark
// process, load generator included) at c=16 and c=64.
func pageBudgets(r *Report) []Budget {
	var out []Budget
	byName := func(name string) *PageResult {
		for i := range r.Pages {
			if r.Pages[i].Name == name {
				return &r.Pages[i]
			}
		}
		return nil
	}
	if p := r.page("small"); p != nil {
		out = append(out, Budget{Name: fmt.Sprintf("%d-test mission page: ≤ 4 statements", r.Scale.SmallTests),
			Measured: strconv.Itoa(p.Queries), Met: p.Queries <= 4})
		if c := p.cell(1); c != nil {
			out = append(out, Budget{Name: fmt.Sprintf("%d-test mission page at c=1 (in-process): p50 ≤ 1.5 ms", r.Scale.SmallTests),
				Measured: ms(c.Page.P50), Met: c.Page.P50 <= 1500*time.Microsecond})
		}
	}
	if p := byName("home"); p != nil {
		out = append(out, Budget{Name: "home: ≤ 3 statements", Measured: strconv.Itoa(p.Queries), Met: p.Queries <= 3})
	}
	if p := r.page("big"); p != nil {
		if c := p.cell(1); c != nil {
			out = append(out, Budget{Name: fmt.Sprintf("%d-test mission page at c=1: p50 ≤ 20 ms", r.Scale.BigTests),
				Measured: ms(c.Page.P50), Met: c.Page.P50 <= 20*time.Millisecond})
		}
	}
	if p := byName(fmt.Sprintf("report %d tests", r.Scale.BigTests)); p != nil {
		if c := p.cell(1); c != nil {
			out = append(out, Budget{Name: fmt.Sprintf("report of %d tests at c=1: p50 ≤ 45 ms", r.Scale.BigTests),
				Measured: ms(c.Page.P50), Met: c.Page.P50 <= 45*time.Millisecond})
		}
		for _, conc := range []int{16, 64} {
			if c := p.cell(conc); c != nil {
				out = append(out, Budget{Name: fmt.Sprintf("report of %d tests at c=%d: peak RSS ≤ 120 MB (in-process, load generator included)", r.Scale.BigTests, conc),
					Measured: mb(c.PeakRSS), Met: c.PeakRSS > 0 && c.PeakRSS <= 120<<20})
			}
		}
	}
	return out
}

// median returns the median of ds (the mean of the middle two for an even
// count), 0 for none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

// WriteTable writes the report as aligned text.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "Violet %s — %s, %d cores, %d MB, %s, PostgreSQL %s, Linux %s\n",
		r.Version, r.Machine.CPU, r.Machine.Cores, r.Machine.MemoryMB, r.Machine.Go, r.Machine.PostgreSQL, r.Machine.Kernel)
	fmt.Fprintf(w, "Scale %+v; rows %v; %s per cell; every number the median of %d runs\n\n", r.Scale, r.Rows, r.Duration, max(r.Runs, 1))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "page\tc\treq/s\tp50\tp95\tp99\terr\tq/req\tRSS\tSQL floor req/s\tp50\t×SQL\tHTTP floor req/s\tp50\t×HTTP\t")
	for _, p := range r.Pages {
		for _, c := range p.Cells {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%d\t%.1f\t%s\t", p.Name, c.Concurrency, c.Page.RPS,
				ms(c.Page.P50), ms(c.Page.P95), ms(c.Page.P99), c.Page.Errors, c.QueriesPerRequest, mb(c.PeakRSS))
			for _, f := range []struct {
				s *Stats
				r float64
			}{{c.SQLFloor, c.SQLRatio}, {c.HTTPFloor, c.HTTPRatio}} {
				if f.s == nil {
					fmt.Fprint(tw, "-\t-\t-\t")
					continue
				}
				fmt.Fprintf(tw, "%.0f\t%s\t%.2f\t", f.s.RPS, ms(f.s.P50), f.r)
			}
			fmt.Fprintln(tw)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, p := range r.Pages {
		fmt.Fprintf(w, "%-28s %s  %d bytes, %d statements\n", p.Name, p.Path, p.Bytes, p.Queries)
	}
	fmt.Fprintln(w)
	for _, t := range r.Timings {
		runs := ""
		if len(t.Runs) > 1 {
			parts := make([]string, len(t.Runs))
			for i, d := range t.Runs {
				parts[i] = strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64)
			}
			runs = "  (median of " + strings.Join(parts, ", ") + " ms)"
		}
		fmt.Fprintf(w, "%-45s %10s  %s%s\n", t.Name, ms(t.Took), t.Outcome, runs)
	}
	if p := r.Process; p != nil {
		fmt.Fprintf(w, "\nviolet serve process: ready after %v; mission %d tests c=16: %.0f req/s, p50 %s, p99 %s, %d errors, peak RSS %s\n",
			p.Ready, r.Scale.SmallTests, p.Small.RPS, ms(p.Small.P50), ms(p.Small.P99), p.Small.Errors, mb(p.PeakRSS))
	}
	if r.Instances != nil {
		r.Instances.write(w)
	}
	writeStatements(w, r.Pages)
	fmt.Fprintln(w, "\nBudgets (docs/ARCHITECTURE.md, Performance budgets):")
	for _, b := range r.Budgets {
		mark := "met    "
		if !b.Met {
			mark = "NOT MET"
		}
		fmt.Fprintf(w, "  %s  %s: %s\n", mark, b.Name, b.Measured)
	}
	for _, p := range r.Pages {
		for _, c := range p.Cells {
			if c.Page.FirstError != "" {
				fmt.Fprintf(w, "  %s c=%d: %d errors, first: %s\n", p.Name, c.Concurrency, c.Page.Errors, c.Page.FirstError)
			}
		}
	}
}

// WriteMarkdown writes the dated result kept under docs/.
func (r *Report) WriteMarkdown(w io.Writer, command string) {
	fmt.Fprintf(w, "# Benchmark — %s\n\n", r.Started.Format("2006-01-02"))
	fmt.Fprintf(w, "Made by `%s` (cmd/violet-bench). Pages are served in-process on loopback by the real router on a\n", command)
	fmt.Fprintln(w, "throwaway PostgreSQL; each cell is a closed loop of c clients. The SQL floor replays the page's own")
	fmt.Fprintln(w, "statements (recorded at the driver) through database/sql and scans every row; the HTTP floor serves")
	fmt.Fprintln(w, "pre-built bytes of the page's size from echo. ×SQL and ×HTTP are the page's mean latency over the")
	fmt.Fprintln(w, "floor's at the same concurrency. The last section is measured on a separate `violet serve` process.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "```")
	r.WriteTable(w)
	fmt.Fprintln(w, "```")
}

// describeMachine reads the CPU, memory and kernel from /proc and the
// server's version from PostgreSQL.
func describeMachine(ctx context.Context, db *sql.DB) (Machine, error) {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.Atoi(strings.Fields(procField("/proc/meminfo", "MemTotal") + " 0")[0]); err == nil {
		m.MemoryMB = kb / 1024
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	err := db.QueryRowContext(ctx, `SELECT current_setting('server_version')`).Scan(&m.PostgreSQL)
	return m, err
}

// procField returns the value of the first "name: value" line of a /proc
// file, or "".
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// rss returns the resident set size of process pid, in bytes.
func rss(pid int) int64 {
	v := procField("/proc/"+strconv.Itoa(pid)+"/status", "VmRSS")
	kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		return 0
	}
	return kb << 10
}

// peakRSSDuring samples pid's RSS every 20 ms while fn runs and returns
// the highest value seen.
func peakRSSDuring(pid int, fn func()) int64 {
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var hi int64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			hi = max(hi, rss(pid))
			select {
			case <-done:
				peak <- max(hi, rss(pid))
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(done)
	return <-peak
}

// write prints one instance against two, page by page.
func (r *InstancesResult) write(w io.Writer) {
	fmt.Fprintln(w, "\nOne violet serve process against two on the same database, behind a round-robin proxy:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "page\tc\t1 instance req/s\tp99\t2 instances req/s\tp99\t2/1\terr\t")
	for _, one := range r.Rows {
		if one.Instances != 1 {
			continue
		}
		for _, two := range r.Rows {
			if two.Instances == 2 && two.Page == one.Page && two.Stats.Concurrency == one.Stats.Concurrency {
				fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%.0f\t%s\t%.2f\t%d\t\n", one.Page, one.Stats.Concurrency,
					one.Stats.RPS, ms(one.Stats.P99), two.Stats.RPS, ms(two.Stats.P99), two.Stats.RPS/max(one.Stats.RPS, 1),
					one.Stats.Errors+two.Stats.Errors)
			}
		}
	}
	tw.Flush()
}
