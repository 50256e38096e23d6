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
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

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
	// StatementCache is the prepared statements per connection of the
	// in-process server's pool (database.DefaultStatementCache normally).
	StatementCache int
	Progress       io.Writer // where progress lines go
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
	rep := &Report{Started: time.Now().UTC(), Scale: o.Scale, Concurrency: o.Concurrency,
		Duration: o.Duration, Version: o.Version}
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

	progress("ATT&CK sync of %s", filepath.Base(o.AttackBundle))
	syncer := attack.NewSyncer(client, db, nil, nil, quiet)
	syncOnce := func() (string, error) {
		c, err := syncBundle(ctx, syncer, o.AttackBundle)
		return fmt.Sprintf("%d added, %d updated, %d unchanged", c.Added, c.Updated, c.Unchanged), err
	}
	if err := rep.time("ATT&CK sync into an empty catalogue", 2*time.Second, syncOnce); err != nil {
		return nil, err
	}
	if err := rep.time("ATT&CK re-sync of the same bundle", time.Second, syncOnce); err != nil {
		return nil, err
	}
	if o.AtomicsDir != "" {
		progress("Atomic Red Team import from %s", o.AtomicsDir)
		src, tests, err := scaledAtomics(o.AtomicsDir, o.AtomicTests)
		if err != nil {
			return nil, err
		}
		importOnce := func() (string, error) {
			sum, err := library.ImportAtomic(rule.SystemContext(ctx), client, src, library.AtomicOptions{})
			return fmt.Sprintf("%d files, %d tests: %d added, %d unchanged, %d failed", sum.Files, tests, sum.Added, sum.Unchanged, sum.Failed), err
		}
		if err := rep.time("Atomic import (every file)", 5*time.Second, importOnce); err != nil {
			return nil, err
		}
		if err := rep.time("Atomic re-import (unchanged)", 2*time.Second, importOnce); err != nil {
			return nil, err
		}
	}

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
		for _, conc := range o.Concurrency {
			progress("%-28s c=%-3d", p.Name, conc)
			cell := Cell{Concurrency: conc}
			op := c.Op(p)
			Load(ctx, conc, 0, o.Warmup, op)
			var q int64
			cell.PeakRSS = peakRSSDuring(os.Getpid(), func() {
				q = countDuring(counter, func() { cell.Page = Load(ctx, conc, 0, o.Duration, op) })
			})
			if cell.Page.Requests > 0 {
				cell.QueriesPerRequest = float64(q) / float64(cell.Page.Requests)
			}
			// A page without SQL (the login form) has no SQL floor.
			if !p.NoFloors && len(cp.stmts) > 0 {
				s := Load(ctx, conc, o.Warmup, o.Duration, SQLFloor(db, cp.stmts))
				cell.SQLFloor, cell.SQLRatio = &s, ratio(cell.Page.Mean, s.Mean)
			}
			if !p.NoFloors {
				h := Load(ctx, conc, o.Warmup, o.Duration, floor.Op(Page{Name: "floor", Path: fmt.Sprintf("/floor/%d", cp.size)}))
				cell.HTTPFloor, cell.HTTPRatio = &h, ratio(cell.Page.Mean, h.Mean)
			}
			pr.Cells = append(pr.Cells, cell)
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
