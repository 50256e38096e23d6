package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"violet/ent"
	"violet/handlers"
	"violet/internal/attack"
	"violet/internal/auth/rule"
	"violet/internal/config"
	"violet/internal/database"
	"violet/internal/evidence"
	"violet/internal/i18n"
	"violet/internal/library"
	"violet/internal/live"
	"violet/internal/migration"
	"violet/internal/seed"
	"violet/internal/testkit/sqltrace"
	"violet/internal/testkit/testdb"
	"violet/migrations"
	"violet/static"
)

// Options configure a benchmark run.
type Options struct {
	DatabaseURL  string // an empty database; Run migrates and fills it
	Scale        Scale
	Concurrency  []int
	Duration     time.Duration // measured time of each cell
	Warmup       time.Duration // unmeasured time before each cell
	AttackBundle string        // STIX bundle to sync (timed); required
	AtomicsDir   string        // Atomic Red Team atomics folder for the import timing; "" skips it
	AtomicTests  int           // the import is scaled (GUIDs rewritten) to at least this many tests
	Binary       string        // a built violet binary for the start-up and RSS measurement; "" skips it
	TwoInstances bool          // with Binary: also compare one serve process with two behind a proxy
	Only         []string      // page names to run; empty runs all
	Version      string        // Violet's version, for the report
	// Runs is how many times each cell and each catalogue timing is
	// measured; the report gives the median (1 when 0).
	Runs int
	// StatementCache is the prepared statements per connection of the
	// in-process server's pool (database.DefaultStatementCache normally).
	StatementCache int
	// CPUProfile, when set, is where a CPU profile of the pages'
	// measurement (client, server and floors: one process) is written.
	CPUProfile string
	Progress   io.Writer // where progress lines go
}

// Run builds the dataset, serves Violet in-process on loopback, drives
// every page at each concurrency with its two floors, and returns the
// report.
func Run(ctx context.Context, o Options) (*Report, error) {
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
		}
	}
	runs := max(o.Runs, 1)
	rep := &Report{Started: time.Now().UTC(), Scale: o.Scale, Concurrency: o.Concurrency,
		Duration: o.Duration, Version: o.Version, Runs: runs}
	counter := new(sqltrace.Counter)
	const maxConns = 20 // DB_MAX_CONNS's default
	db, client, err := database.Open(o.DatabaseURL, maxConns, database.WithConnector(counter.Wrap),
		database.WithStatementCache(o.StatementCache))
	if err != nil {
		return nil, err
	}
	defer client.Close()
	if rep.Machine, err = describeMachine(ctx, db); err != nil {
		return nil, err
	}
	dir, err := migrations.Dir()
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := rep.time("migrate an empty database and seed it", 0, func() (string, error) {
		if _, err := migration.Apply(ctx, db, dir, quiet); err != nil {
			return "", err
		}
		return "", seed.Ensure(ctx, client)
	}); err != nil {
		return nil, err
	}

	stat := enableStatStatements(ctx, db)
	if stat == nil {
		progress("pg_stat_statements is not loaded on this server: statements are timed at the driver")
	}
	// The catalogue imports run once per run, each in a database of its
	// own (the first run in this one, which keeps the catalogue for the
	// dataset): a first sync needs an empty catalogue.
	var (
		src   []library.Source
		tests int
	)
	if o.AtomicsDir != "" {
		if src, tests, err = scaledAtomics(o.AtomicsDir, o.AtomicTests); err != nil {
			return nil, err
		}
	}
	progress("ATT&CK sync of %s, Atomic import of %d tests, run 1 of %d", filepath.Base(o.AttackBundle), tests, runs)
	if err := catalogueSteps(ctx, rep, client, db, o, src, tests); err != nil {
		return nil, err
	}
	for run := 1; run < runs; run++ {
		progress("ATT&CK sync and Atomic import, run %d of %d (a database of its own)", run+1, runs)
		if err := scratchRun(ctx, rep, db, o, run, src, tests); err != nil {
			progress("run %d: %v: the catalogue timings keep the runs before it", run+1, err)
			break
		}
	}
	rep.mergeRuns()

	progress("dataset %+v", o.Scale)
	evidenceDir, err := os.MkdirTemp("", "violet-bench-evidence-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(evidenceDir)
	var d *Dataset
	if err := rep.time("generate the dataset", 0, func() (string, error) {
		var err error
		d, err = Generate(ctx, client, db, evidence.NewDir(evidenceDir), o.Scale)
		return "", err
	}); err != nil {
		return nil, err
	}
	rep.Rows = d.Rows

	srv, stop, err := serveInProcess(ctx, o.DatabaseURL, evidenceDir, o.Version, db, client)
	if err != nil {
		return nil, err
	}
	defer stop()
	c := NewClient(srv, maxConc(o.Concurrency))
	for role, email := range map[string]string{"lead": d.LeadEmail, "blue": d.BlueEmail} {
		if err := c.Login(ctx, role, email, Password); err != nil {
			return nil, err
		}
	}
	pages := Pages(d)
	var sizes []int
	captured := make([]capture, len(pages))
	for i, p := range pages {
		if !selected(o.Only, p.Name) {
			continue
		}
		status, n, stmts, err := c.Capture(ctx, counter, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		}
		captured[i] = capture{run: true, status: status, size: int(n), stmts: stmts}
		sizes = append(sizes, int(n))
	}
	floorBase, stopFloor, err := listen(HTTPFloor(sizes))
	if err != nil {
		return nil, err
	}
	defer stopFloor()
	floor := NewClient(floorBase, maxConc(o.Concurrency))
	if o.CPUProfile != "" {
		stopProfile, err := startCPUProfile(o.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer stopProfile()
	}
	for i, p := range pages {
		cp := captured[i]
		if !cp.run {
			continue
		}
		pr := PageResult{Mission: p.Mission, Name: p.Name, Path: p.Path, Status: cp.status, Bytes: cp.size, Queries: len(cp.stmts)}
		want := p.Want
		if want == 0 {
			want = http.StatusOK
		}
		if cp.status != want {
			return nil, fmt.Errorf("%s %s: status %d, want %d", p.Name, p.Path, cp.status, want)
		}
		var log statementLog
		for _, conc := range o.Concurrency {
			progress("%-28s c=%-3d", p.Name, conc)
			cell, err := measureCell(ctx, cellSpec{conc: conc, runs: runs, o: o, op: c.Op(p), counter: counter, stat: stat, log: &log,
				sqlFloor: !p.NoFloors && len(cp.stmts) > 0, httpFloor: !p.NoFloors, db: db, stmts: cp.stmts,
				floorOp: floor.Op(Page{Name: "floor", Path: fmt.Sprintf("/floor/%d", cp.size)})})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.Name, err)
			}
			pr.Cells = append(pr.Cells, cell)
		}
		if stat != nil {
			pr.Statements, pr.StatementSource = log.stats(), SourceStatStatements
		} else {
			// The login POST writes a session: its statements are
			// counted, not replayed.
			reps := 5
			if p.NoFloors {
				reps = 0
			}
			if pr.Statements, err = driverStatements(ctx, db, cp.stmts, reps); err != nil {
				return nil, fmt.Errorf("%s: %w", p.Name, err)
			}
			pr.StatementSource = SourceDriver
		}
		rep.Pages = append(rep.Pages, pr)
	}
	if o.Binary != "" {
		progress("start-up and RSS of %s", o.Binary)
		pr, err := measureProcess(ctx, o.Binary, o.DatabaseURL, d, o)
		if err != nil {
			return nil, err
		}
		rep.Process = pr
		if o.TwoInstances {
			progress("one instance against two, behind a round-robin proxy")
			if rep.Instances, err = measureInstances(ctx, o.Binary, o.DatabaseURL, d, o); err != nil {
				return nil, err
			}
		}
	}
	rep.Budgets = checkBudgets(rep)
	rep.Finished = time.Now().UTC()
	return rep, nil
}

// capture is what one solo request of a page showed.
type capture struct {
	run    bool
	status int
	size   int
	stmts  []sqltrace.Statement
}

func selected(only []string, name string) bool {
	if len(only) == 0 {
		return true
	}
	for _, o := range only {
		if strings.EqualFold(strings.TrimSpace(o), name) {
			return true
		}
	}
	return false
}

func maxConc(cs []int) int {
	m := 1
	for _, c := range cs {
		m = max(m, c)
	}
	return m
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// syncBundle runs one ATT&CK sync job from a file, as `violet attack sync`
// does.
func syncBundle(ctx context.Context, s *attack.Syncer, path string) (attack.Counts, error) {
	ctx = rule.SystemContext(ctx)
	f, err := os.Open(path)
	if err != nil {
		return attack.Counts{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return attack.Counts{}, err
	}
	job, err := s.Begin(ctx, nil, filepath.Base(path))
	if err != nil {
		return attack.Counts{}, err
	}
	return s.Run(ctx, job, f, fi.Size(), attack.VersionFromName(path), attack.PhaseRead)
}

// scaledAtomics reads the Atomic files of dir and repeats them, each copy
// with its tests' GUIDs replaced by fixed derived ones, until there are at
// least want tests (the upstream folder holds about 1,700). It returns the
// sources and their number of tests.
func scaledAtomics(dir string, want int) ([]library.Source, int, error) {
	real, err := library.ReadDir(dir)
	if err != nil {
		return nil, 0, err
	}
	guid := regexp.MustCompile(`auto_generated_guid: *([0-9a-fA-F-]{36})`)
	per := 0
	for _, s := range real {
		per += len(guid.FindAll(s.Data, -1))
	}
	if per == 0 {
		return nil, 0, errors.New("no Atomic tests in " + dir)
	}
	var out []library.Source
	tests := 0
	for copyN := 0; copyN == 0 || tests < want; copyN++ {
		for _, s := range real {
			data := s.Data
			if copyN > 0 {
				data = guid.ReplaceAllFunc(s.Data, func(m []byte) []byte {
					id := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%d/%s", copyN, m))
					return []byte("auto_generated_guid: " + id.String())
				})
			}
			out = append(out, library.Source{Name: fmt.Sprintf("%d/%s", copyN, s.Name), Data: data})
		}
		tests += per
	}
	return out, tests, nil
}

// serveInProcess builds Violet's server on db with the production
// configuration defaults (and the production password hasher), with its
// live events hub running, and serves it on a loopback port. It returns
// the base URL and the function that stops it.
func serveInProcess(ctx context.Context, dbURL, evidenceDir, version string, db *sql.DB, client *ent.Client) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	cfg, err := configFor(dbURL, evidenceDir, ln.Addr().String())
	if err != nil {
		ln.Close()
		return "", nil, err
	}
	dir, err := migrations.Dir()
	if err != nil {
		ln.Close()
		return "", nil, err
	}
	catalog, err := i18n.New(cfg.DefaultLocale)
	if err != nil {
		ln.Close()
		return "", nil, err
	}
	assets, err := static.New()
	if err != nil {
		ln.Close()
		return "", nil, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	hub := live.NewHub(db, dbURL, log)
	hubCtx, stopHub := context.WithCancel(ctx)
	hubDone := make(chan struct{})
	go func() {
		defer close(hubDone)
		_ = hub.Run(hubCtx)
	}()
	srv, err := handlers.New(handlers.Deps{Config: cfg, DB: db, Ent: client, Migrations: dir,
		Catalog: catalog, Assets: assets, Log: log, Version: version, Live: hub})
	if err != nil {
		stopHub()
		ln.Close()
		return "", nil, err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	return "http://" + ln.Addr().String(), func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		stopHub()
		<-hubDone
	}, nil
}

func listen(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go s.Serve(ln)
	return "http://" + ln.Addr().String(), func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(sctx)
	}, nil
}

// sessionKey returns a random SESSION_KEY value.
func sessionKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// configFor loads Violet's configuration from the same variables an
// operator sets, so every other setting keeps its production default.
func configFor(dbURL, evidenceDir, listen string) (config.Config, error) {
	env := map[string]string{
		"DATABASE_URL": dbURL, "SESSION_KEY": sessionKey(), "EVIDENCE_DIR": evidenceDir,
		"LISTEN_ADDR": listen, "LOG_LEVEL": "error", "BASE_URL": "http://" + listen,
	}
	return config.Load(func(k string) string { return env[k] }, config.ServeRequired()...)
}

// cellSpec is one page at one concurrency, with its floors.
type cellSpec struct {
	conc, runs          int
	o                   Options
	op, floorOp         func(context.Context) error
	counter             *sqltrace.Counter
	stat                *statStatements
	log                 *statementLog
	sqlFloor, httpFloor bool
	db                  *sql.DB
	stmts               []sqltrace.Statement
}

// measureCell measures the page and its floors runs times, one after the
// other in each run (so drift hits the three alike), and keeps the median
// of each; pg_stat_statements is reset before each page load and read
// after it.
func measureCell(ctx context.Context, s cellSpec) (Cell, error) {
	cell := Cell{Concurrency: s.conc}
	var page, sqlF, httpF []Stats
	var q int64
	var reqs int
	for run := range s.runs {
		warm := time.Duration(0)
		if run == 0 {
			warm = s.o.Warmup
			Load(ctx, s.conc, 0, warm, s.op)
		}
		var st Stats
		var err error
		rss := peakRSSDuring(os.Getpid(), func() {
			err = s.log.during(ctx, s.stat, func() int {
				q += countDuring(s.counter, func() { st = Load(ctx, s.conc, 0, s.o.Duration, s.op) })
				return st.Requests
			})
		})
		if err != nil {
			return cell, err
		}
		cell.PeakRSS = max(cell.PeakRSS, rss)
		page, reqs = append(page, st), reqs+st.Requests
		if s.sqlFloor {
			sqlF = append(sqlF, Load(ctx, s.conc, warm, s.o.Duration, SQLFloor(s.db, s.stmts)))
		}
		if s.httpFloor {
			httpF = append(httpF, Load(ctx, s.conc, warm, s.o.Duration, s.floorOp))
		}
	}
	cell.Page = medianStats(page)
	if reqs > 0 {
		cell.QueriesPerRequest = float64(q) / float64(reqs)
	}
	if len(sqlF) > 0 {
		f := medianStats(sqlF)
		cell.SQLFloor, cell.SQLRatio = &f, ratio(cell.Page.Mean, f.Mean)
	}
	if len(httpF) > 0 {
		f := medianStats(httpF)
		cell.HTTPFloor, cell.HTTPRatio = &f, ratio(cell.Page.Mean, f.Mean)
	}
	return cell, nil
}

// catalogueSteps times the ATT&CK sync into an empty catalogue, its re-sync
// of the same bundle and, with src, the Atomic import and its re-import,
// on the database of client.
func catalogueSteps(ctx context.Context, rep *Report, client *ent.Client, db *sql.DB, o Options, src []library.Source, tests int) error {
	quiet := slog.New(slog.DiscardHandler)
	syncer := attack.NewSyncer(client, db, nil, nil, quiet)
	syncOnce := func() (string, error) {
		c, err := syncBundle(ctx, syncer, o.AttackBundle)
		return fmt.Sprintf("%d added, %d updated, %d unchanged", c.Added, c.Updated, c.Unchanged), err
	}
	if err := rep.time("ATT&CK sync into an empty catalogue", 1500*time.Millisecond, syncOnce); err != nil {
		return err
	}
	if err := rep.time("ATT&CK re-sync of the same bundle", 700*time.Millisecond, syncOnce); err != nil {
		return err
	}
	if src == nil {
		return nil
	}
	importOnce := func() (string, error) {
		sum, err := library.ImportAtomic(rule.SystemContext(ctx), client, src, library.AtomicOptions{})
		return fmt.Sprintf("%d files, %d tests: %d added, %d unchanged, %d failed", sum.Files, tests, sum.Added, sum.Unchanged, sum.Failed), err
	}
	if err := rep.time("Atomic import (every file)", 3*time.Second, importOnce); err != nil {
		return err
	}
	return rep.time("Atomic re-import (unchanged)", time.Second, importOnce)
}

// scratchRun repeats catalogueSteps in a new database on the same server,
// migrated and seeded (untimed), dropped afterwards.
func scratchRun(ctx context.Context, rep *Report, db *sql.DB, o Options, run int, src []library.Source, tests int) error {
	var cur string
	if err := db.QueryRowContext(ctx, `SELECT current_database()`).Scan(&cur); err != nil {
		return err
	}
	name := pq.QuoteIdentifier(fmt.Sprintf("%s_run%d", cur, run))
	drop := func() { _, _ = db.ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) }
	drop()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return err
	}
	defer drop()
	u, err := withDatabase(o.DatabaseURL, fmt.Sprintf("%s_run%d", cur, run))
	if err != nil {
		return err
	}
	if err := testdb.MigrateAndSeed(u); err != nil {
		return err
	}
	sdb, client, err := database.Open(u, 20)
	if err != nil {
		return err
	}
	defer client.Close()
	return catalogueSteps(ctx, rep, client, sdb, o, src, tests)
}

// withDatabase returns rawURL naming database db instead.
func withDatabase(rawURL, db string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + db
	return u.String(), nil
}

// startCPUProfile profiles the process's CPU into the file at path until
// the returned function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
