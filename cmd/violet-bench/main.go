// Command violet-bench is `make bench`: it starts a throwaway PostgreSQL
// cluster with pg_stat_statements (or uses an empty database given with
// -database-url), times the full ATT&CK bundle's sync and re-sync and the
// scaled Atomic import and re-import, generates a deterministic dataset,
// serves Violet in-process on loopback and drives every page at concurrency
// 1, 16 and 64 with its SQL and HTTP floors (docs/ARCHITECTURE.md,
// "Performance budgets"), recording every statement of every page; each
// number is the median of -runs runs. It measures a separate `violet serve`
// process's start-up and RSS, and prints a table, writes JSON and, with
// -markdown, the dated result kept under docs/. With -compare REF it
// instead measures this tree against commit REF, both served in the same
// run, alternately (compare.go).
//
// It is not part of the product binary.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/lib/pq"

	"violet/internal/database"
	"violet/internal/testkit/bench"
	"violet/internal/testkit/testdb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "violet-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("violet-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	s := bench.DefaultScale()
	var (
		dbURL    = fs.String("database-url", "", "an EMPTY PostgreSQL database to fill (default: a throwaway cluster of its own)")
		conc     = fs.String("concurrency", "1,16,64", "comma-separated concurrency levels")
		duration = fs.Duration("duration", time.Second, "measured time of each run of each cell (page or floor at one concurrency)")
		warmup   = fs.Duration("warmup", 300*time.Millisecond, "unmeasured time before each cell")
		bundle   = fs.String("attack", "../shared/data/attack/enterprise-attack-17.1-full.json", "ATT&CK STIX bundle to sync (timed: first sync and re-sync)")
		atomics  = fs.String("atomics", "../shared/data/atomic-red-team/atomics", "Atomic Red Team atomics folder for the import timing (\"\" skips it)")
		tests    = fs.Int("atomic-tests", 1800, "scale the Atomic import to at least this many tests (timed: first import and re-import)")
		binary   = fs.String("binary", "bin/violet", "built violet binary for the start-up and RSS measurement (\"\" skips it)")
		two      = fs.Bool("two-instances", true, "with -binary: compare one violet serve process with two behind a round-robin proxy")
		only     = fs.String("pages", "", "comma-separated page names to run (default: all)")
		jsonOut  = fs.String("json", "bench.json", "write the report as JSON here (\"\" skips it)")
		mdOut    = fs.String("markdown", "", "also write the report as markdown here (for docs/bench/)")
		version  = fs.String("version", "dev", "Violet's version, for the report")
		stmts    = fs.Int("statement-cache", database.DefaultStatementCache, "prepared statements per connection of the in-process server (0: off)")
		params   = fs.String("dsn-params", "", "extra connection parameters for Violet's pool, e.g. binary_parameters=yes")
		runs     = fs.Int("runs", 3, "runs of each cell and of each catalogue timing; the median is reported")
		cpuProf  = fs.String("cpuprofile", "", "write a CPU profile of the measured pages (after the dataset is built) to this file, for go tool pprof")
		compare  = fs.String("compare", "", "a git commit (e.g. main, HEAD~1) to compare with: builds it in a temporary directory and measures every page on both, alternately, reporting new/ref ratios (pages and dataset builds only)")
	)
	fs.IntVar(&s.Users, "users", s.Users, "generated accounts")
	fs.IntVar(&s.Missions, "missions", s.Missions, "missions besides the two measured ones")
	fs.IntVar(&s.SmallTests, "small-tests", s.SmallTests, "tests of the small mission (and of every other mission)")
	fs.IntVar(&s.BigTests, "big-tests", s.BigTests, "tests of the big mission")
	fs.IntVar(&s.TagsPerTest, "tags", s.TagsPerTest, "ATT&CK tags per test")
	fs.IntVar(&s.Evidence, "evidence", s.Evidence, "evidence files on each of that many tests of the big mission")
	if err := fs.Parse(args); err != nil {
		return err
	}
	levels, err := parseLevels(*conc)
	if err != nil {
		return err
	}
	if *runs < 1 {
		return errors.New("-runs: at least 1")
	}
	for _, p := range []*string{bundle, atomics, binary} {
		if *p == "" || (p == binary && *compare != "") {
			continue
		}
		if _, err := os.Stat(*p); err != nil {
			if p == bundle {
				return fmt.Errorf("the ATT&CK bundle: %w (give one with -attack)", err)
			}
			fmt.Fprintf(stderr, "violet-bench: %v: skipped\n", err)
			*p = ""
		}
	}
	var pages []string
	if *only != "" {
		pages = strings.Split(*only, ",")
	}
	if *compare != "" {
		if *dbURL != "" {
			return errors.New("-compare makes its own cluster: no -database-url")
		}
		return runCompare(ctx, *compare, bench.CompareOptions{
			Scale: s, AttackBundle: *bundle, AtomicsDir: *atomics, AtomicTests: *tests, Concurrency: levels,
			Duration: *duration, Warmup: *warmup, Runs: *runs, Only: pages, Progress: stderr,
			New: bench.Side{Name: *version},
		}, stdout, stderr, *jsonOut, *mdOut)
	}
	if *dbURL == "" {
		fmt.Fprintln(stderr, "violet-bench: starting a throwaway PostgreSQL cluster (with pg_stat_statements)")
		cluster, err := testdb.StartClusterWith(testdb.ClusterOptions{Settings: testdb.StatStatementsSettings()})
		if err != nil {
			return err
		}
		defer cluster.Remove()
		if err := createDatabase(cluster.URL("postgres"), "violet_bench"); err != nil {
			return err
		}
		*dbURL = cluster.URL("violet_bench")
	}
	if *params != "" {
		sep := "?"
		if strings.Contains(*dbURL, "?") {
			sep = "&"
		}
		*dbURL += sep + *params
	}
	rep, err := bench.Run(ctx, bench.Options{
		DatabaseURL: *dbURL, Scale: s, Concurrency: levels, Duration: *duration, Warmup: *warmup,
		AttackBundle: *bundle, AtomicsDir: *atomics, AtomicTests: *tests, Binary: *binary, TwoInstances: *two,
		Only: pages, Version: *version, Progress: stderr, StatementCache: *stmts, Runs: *runs, CPUProfile: *cpuProf,
	})
	if err != nil {
		return err
	}
	rep.WriteTable(stdout)
	return writeReport(rep, rep.WriteMarkdown, "make bench", *jsonOut, *mdOut)
}

// writeReport writes rep as JSON to jsonOut and as markdown to mdOut ("" skips
// either).
func writeReport(rep any, markdown func(io.Writer, string), command, jsonOut, mdOut string) error {
	if jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if mdOut != "" {
		f, err := os.Create(mdOut)
		if err != nil {
			return err
		}
		markdown(f, command)
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func parseLevels(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1024 {
			return nil, fmt.Errorf("concurrency %q: want whole numbers from 1 to 1024", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no concurrency level")
	}
	return out, nil
}

func createDatabase(adminURL, name string) error {
	db, err := sql.Open("postgres", adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(`CREATE DATABASE ` + name)
	return err
}
