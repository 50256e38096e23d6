package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
)

// Side is one version of Violet in a -compare run: its product binary
// (served as `violet serve`) and its benchmark program, which builds the
// side's dataset with the side's own migrations and code.
type Side struct {
	Name   string // e.g. the commit
	Violet string // path of its violet binary
	Bench  string // path of its violet-bench binary
}

// CompareOptions configure Compare.
type CompareOptions struct {
	AdminURL     string // a maintenance database of the cluster both sides' databases are created in
	New, Ref     Side
	Scale        Scale
	AttackBundle string
	AtomicsDir   string // "" skips the Atomic import of the dataset builds
	AtomicTests  int
	Concurrency  []int
	Duration     time.Duration
	Warmup       time.Duration
	Runs         int
	Only         []string
	Progress     io.Writer
}

// CompareReport is a -compare run: every page served by both sides'
// `violet serve` processes, measured alternately, with ratios new/ref.
type CompareReport struct {
	Started     time.Time       `json:"started"`
	Finished    time.Time       `json:"finished"`
	New         string          `json:"new"`
	Ref         string          `json:"ref"`
	Machine     Machine         `json:"machine"`
	Scale       Scale           `json:"scale"`
	Concurrency []int           `json:"concurrency"`
	Duration    time.Duration   `json:"cell_duration_ns"`
	Runs        int             `json:"runs"`
	Timings     []CompareTiming `json:"timings"`
	Pages       []ComparePage   `json:"pages"`
}

// CompareTiming is one catalogue or dataset timing of both sides' dataset
// builds. The builds run one after the other, not alternately: these
// ratios are noisier than the pages'.
type CompareTiming struct {
	Name  string        `json:"name"`
	New   time.Duration `json:"new_ns"`
	Ref   time.Duration `json:"ref_ns"`
	Ratio float64       `json:"new_over_ref"`
}

// ComparePage is one page on both sides.
type ComparePage struct {
	Name  string        `json:"name"`
	Path  string        `json:"path"`
	New   CompareSide   `json:"new"`
	Ref   CompareSide   `json:"ref"`
	Cells []CompareCell `json:"cells"`
	Error string        `json:"error,omitempty"` // why the page was not measured
}

// CompareSide is what one side's page showed and ran.
type CompareSide struct {
	Status     int             `json:"status"`
	Bytes      int             `json:"bytes"`
	PerRequest float64         `json:"statements_per_request"` // pg_stat_statements; 0 without it
	Statements []StatementStat `json:"statements,omitempty"`
}

// CompareCell is one page at one concurrency on both sides, each the
// median of the runs; the ratios are new over ref (below 1 is faster for
// latencies, above 1 is faster for the rate).
type CompareCell struct {
	Concurrency int     `json:"concurrency"`
	New         Stats   `json:"new"`
	Ref         Stats   `json:"ref"`
	P50Ratio    float64 `json:"p50_new_over_ref"`
	P99Ratio    float64 `json:"p99_new_over_ref"`
	RPSRatio    float64 `json:"rps_new_over_ref"`
}

// compareSide is one side while it is measured.
type compareSide struct {
	Side
	url    string
	db     *sql.DB
	stat   *statStatements
	data   *Dataset
	proc   *process
	client *Client
	pages  []Page
}

// Compare builds each side's dataset in a database of its own on the same
// cluster (by running the side's violet-bench on it, so each side's own
// migrations and code write it), starts each side's `violet serve` on its
// database, and drives every page on both, alternately (new, ref, ref,
// new, …, per run of each cell), so that drift on the machine hits both
// alike.
func Compare(ctx context.Context, o CompareOptions) (*CompareReport, error) {
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
		}
	}
	runs := max(o.Runs, 1)
	rep := &CompareReport{Started: time.Now().UTC(), New: o.New.Name, Ref: o.Ref.Name, Scale: o.Scale,
		Concurrency: o.Concurrency, Duration: o.Duration, Runs: runs}
	admin, err := sql.Open("postgres", o.AdminURL)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	if rep.Machine, err = describeMachine(ctx, admin); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "violet-bench-compare-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	sides := []*compareSide{{Side: o.New}, {Side: o.Ref}}
	timings := make([][]Timing, 2)
	for i, s := range sides {
		name := [...]string{"violet_new", "violet_ref"}[i]
		if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(name)); err != nil {
			return nil, err
		}
		if s.url, err = withDatabase(o.AdminURL, name); err != nil {
			return nil, err
		}
		progress("%s: the dataset, by its own violet-bench", s.Name)
		jsonPath := filepath.Join(tmp, name+".json")
		if err := buildDataset(ctx, s.Bench, s.url, jsonPath, o); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		var built struct {
			Timings []Timing `json:"timings"`
		}
		if b, err := os.ReadFile(jsonPath); err == nil {
			_ = json.Unmarshal(b, &built)
		}
		timings[i] = built.Timings
		if s.db, err = sql.Open("postgres", s.url); err != nil {
			return nil, err
		}
		defer s.db.Close()
		if s.data, err = findDataset(ctx, s.db, o.Scale); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		s.stat = enableStatStatements(ctx, s.db)
		s.pages = Pages(s.data)
	}
	rep.Timings = compareTimings(timings[0], timings[1])
	if sides[0].stat == nil {
		progress("pg_stat_statements is not loaded on this server: no statements in the comparison")
	}
	for _, s := range sides {
		p, _, err := startProcess(ctx, s.Violet, s.url, sessionKey())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		s.proc = p
		defer p.stop() //nolint:errcheck // the report is made; a dirty exit is not its subject
		s.client = NewClient(p.base, maxConc(o.Concurrency))
		for role, email := range map[string]string{"lead": s.data.LeadEmail, "blue": s.data.BlueEmail} {
			if err := s.client.Login(ctx, role, email, Password); err != nil {
				return nil, fmt.Errorf("%s: %w", s.Name, err)
			}
		}
	}
	for i := range sides[0].pages {
		pn, pr := sides[0].pages[i], sides[1].pages[i]
		if !selected(o.Only, pn.Name) {
			continue
		}
		cp := ComparePage{Name: pn.Name, Path: pn.Path}
		want := pn.Want
		if want == 0 {
			want = http.StatusOK
		}
		for j, s := range sides {
			res, n, err := s.client.do(ctx, s.pages[i])
			side := &cp.New
			if j == 1 {
				side = &cp.Ref
			}
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", s.Name, pn.Name, err)
			}
			side.Status, side.Bytes = res.StatusCode, int(n)
			if res.StatusCode != want && cp.Error == "" {
				cp.Error = fmt.Sprintf("%s answered %d, want %d", s.Name, res.StatusCode, want)
			}
		}
		if cp.Error != "" {
			progress("%s: %s: not measured", pn.Name, cp.Error)
			rep.Pages = append(rep.Pages, cp)
			continue
		}
		logs := make([]statementLog, 2)
		for _, conc := range o.Concurrency {
			progress("%-28s c=%-3d", pn.Name, conc)
			ops := []func(context.Context) error{sides[0].client.Op(pn), sides[1].client.Op(pr)}
			for _, op := range ops {
				Load(ctx, conc, 0, o.Warmup, op)
			}
			got := make([][]Stats, 2)
			for run := range runs {
				for _, j := range abOrder(run) {
					var st Stats
					if err := logs[j].during(ctx, sides[j].stat, func() int {
						st = Load(ctx, conc, 0, o.Duration, ops[j])
						return st.Requests
					}); err != nil {
						return nil, err
					}
					got[j] = append(got[j], st)
				}
			}
			cell := CompareCell{Concurrency: conc, New: medianStats(got[0]), Ref: medianStats(got[1])}
			cell.P50Ratio, cell.P99Ratio = ratio(cell.New.P50, cell.Ref.P50), ratio(cell.New.P99, cell.Ref.P99)
			if cell.Ref.RPS > 0 {
				cell.RPSRatio = cell.New.RPS / cell.Ref.RPS
			}
			cp.Cells = append(cp.Cells, cell)
		}
		for j, side := range []*CompareSide{&cp.New, &cp.Ref} {
			if sides[j].stat == nil {
				continue
			}
			side.Statements = logs[j].stats()
			for _, s := range side.Statements {
				side.PerRequest += s.PerRequest
			}
		}
		rep.Pages = append(rep.Pages, cp)
	}
	rep.Finished = time.Now().UTC()
	return rep, nil
}

// abOrder is the order of the two sides in run n: new then ref, then ref
// then new, so that neither always goes first.
func abOrder(run int) []int {
	if run%2 == 0 {
		return []int{0, 1}
	}
	return []int{1, 0}
}

// buildDataset runs a side's violet-bench on its empty database with no
// page and no process measurement: it migrates, seeds, syncs the bundle,
// imports the Atomic tests and generates the dataset at o's scale, and
// writes its JSON report (with its timings) to jsonPath. Flags the side's
// program does not know (an older commit) are left out.
func buildDataset(ctx context.Context, benchBin, dbURL, jsonPath string, o CompareOptions) error {
	help, _ := exec.CommandContext(ctx, benchBin, "-h").CombinedOutput()
	knows := func(flag string) bool {
		return strings.Contains(string(help), "-"+flag+" ") || strings.Contains(string(help), "-"+flag+"\n")
	}
	args := []string{"-database-url", dbURL, "-attack", o.AttackBundle, "-atomics", o.AtomicsDir,
		"-atomic-tests", strconv.Itoa(o.AtomicTests), "-binary", "", "-pages", "none (dataset only)",
		"-json", jsonPath, "-concurrency", "1", "-duration", "1ms", "-warmup", "1ms",
		"-users", strconv.Itoa(o.Scale.Users), "-missions", strconv.Itoa(o.Scale.Missions),
		"-small-tests", strconv.Itoa(o.Scale.SmallTests), "-big-tests", strconv.Itoa(o.Scale.BigTests),
		"-tags", strconv.Itoa(o.Scale.TagsPerTest), "-evidence", strconv.Itoa(o.Scale.Evidence)}
	if knows("runs") {
		args = append(args, "-runs", "1")
	}
	cmd := exec.CommandContext(ctx, benchBin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", benchBin, err, lastBytes(out.String(), 3000))
	}
	return nil
}

// findDataset finds in a dataset built by Generate (of any version) what
// the pages need: the measured missions by name, the drawer's test (the big
// mission's first) and the first ATT&CK technique.
func findDataset(ctx context.Context, db *sql.DB, s Scale) (*Dataset, error) {
	d := &Dataset{Scale: s, LeadEmail: "lead@bench.example", BlueEmail: "blue@bench.example"}
	for _, m := range []struct {
		name string
		id   *uuid.UUID
	}{{fmt.Sprintf("Bench: %d tests", s.SmallTests), &d.Small}, {fmt.Sprintf("Bench: %d tests", s.BigTests), &d.Big}} {
		if err := db.QueryRowContext(ctx, `SELECT id FROM missions WHERE name = $1 ORDER BY created_at DESC LIMIT 1`, m.name).Scan(m.id); err != nil {
			return nil, fmt.Errorf("mission %q: %w", m.name, err)
		}
	}
	if err := db.QueryRowContext(ctx, `SELECT id FROM mission_tests WHERE mission_id = $1 ORDER BY position LIMIT 1`, d.Big).Scan(&d.DrawerTest); err != nil {
		return nil, fmt.Errorf("the drawer's test: %w", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT external_id FROM mitre_techniques WHERE NOT revoked AND NOT deprecated
		ORDER BY external_id LIMIT 1`).Scan(&d.TechniqueID); err != nil {
		return nil, fmt.Errorf("an ATT&CK technique: %w", err)
	}
	return d, nil
}

// compareTimings pairs the two dataset builds' timings by name.
func compareTimings(newT, refT []Timing) []CompareTiming {
	var out []CompareTiming
	for _, n := range newT {
		for _, r := range refT {
			if r.Name == n.Name {
				out = append(out, CompareTiming{Name: n.Name, New: n.Took, Ref: r.Took, Ratio: ratio(n.Took, r.Took)})
			}
		}
	}
	return out
}

// WriteTable writes the comparison as aligned text.
func (r *CompareReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "Violet %s against %s — %s, %d cores, %d MB, %s, PostgreSQL %s, Linux %s\n",
		r.New, r.Ref, r.Machine.CPU, r.Machine.Cores, r.Machine.MemoryMB, r.Machine.Go, r.Machine.PostgreSQL, r.Machine.Kernel)
	fmt.Fprintf(w, "Scale %+v; %s per cell; every number the median of %d runs, the two sides alternating\n\n",
		r.Scale, r.Duration, max(r.Runs, 1))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "page\tc\tnew req/s\tref req/s\tnew/ref\tnew p50\tref p50\tnew/ref\tnew p99\tref p99\tnew/ref\tstmts new\tref\terr\t")
	for _, p := range r.Pages {
		if p.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t\t\t\t\t\t\t\t\t\t\t\t%s\t\n", p.Name, p.Error)
			continue
		}
		for _, c := range p.Cells {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.2f\t%s\t%s\t%.2f\t%s\t%s\t%.2f\t%.1f\t%.1f\t%d\t\n", p.Name, c.Concurrency,
				c.New.RPS, c.Ref.RPS, c.RPSRatio, ms(c.New.P50), ms(c.Ref.P50), c.P50Ratio, ms(c.New.P99), ms(c.Ref.P99), c.P99Ratio,
				p.New.PerRequest, p.Ref.PerRequest, c.New.Errors+c.Ref.Errors)
		}
	}
	tw.Flush()
	if len(r.Timings) > 0 {
		fmt.Fprintln(w, "\nDataset builds (one after the other, one run each):")
		for _, t := range r.Timings {
			fmt.Fprintf(w, "  %-45s new %10s  ref %10s  new/ref %.2f\n", t.Name, ms(t.New), ms(t.Ref), t.Ratio)
		}
	}
	for _, p := range r.Pages {
		for _, c := range p.Cells {
			for _, s := range []Stats{c.New, c.Ref} {
				if s.FirstError != "" {
					fmt.Fprintf(w, "  %s c=%d: %d errors, first: %s\n", p.Name, c.Concurrency, s.Errors, s.FirstError)
				}
			}
		}
	}
}

// WriteMarkdown writes the comparison kept under docs/bench/.
func (r *CompareReport) WriteMarkdown(w io.Writer, command string) {
	fmt.Fprintf(w, "# Benchmark comparison — %s\n\n", r.Started.Format("2006-01-02"))
	fmt.Fprintf(w, "Made by `%s` (cmd/violet-bench -compare). Each side's own violet-bench built its dataset in a\n", command)
	fmt.Fprintln(w, "database of its own (its own migrations and code) on one throwaway PostgreSQL; each side's `violet serve`")
	fmt.Fprintln(w, "served its database and every page was driven on both, alternately in each run of each cell. Ratios are")
	fmt.Fprintln(w, "new/ref: below 1 is faster for latencies, above 1 is faster for requests/s. Statements per request are")
	fmt.Fprintln(w, "from pg_stat_statements.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "```")
	r.WriteTable(w)
	fmt.Fprintln(w, "```")
}

// lastBytes returns the end of a program's output, for an error message.
func lastBytes(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
