// Command violet-bench is `make bench`: it starts a throwaway PostgreSQL
// cluster (or uses an empty database given with -database-url), generates a
// deterministic dataset, serves Violet in-process on loopback and drives every
// page at concurrency 1, 16 and 64 with its SQL and HTTP floors
// (docs/ARCHITECTURE.md, "Performance budgets"), times the ATT&CK sync and the
// Atomic import, measures a separate `violet serve` process's start-up and
// RSS, and prints a table, writes JSON and, with -markdown, the dated result
// kept under docs/.
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
		duration = fs.Duration("duration", 2*time.Second, "measured time of each cell (page or floor at one concurrency)")
		warmup   = fs.Duration("warmup", 300*time.Millisecond, "unmeasured time before each cell")
		bundle   = fs.String("attack", "../shared/data/attack/enterprise-attack-16.1.json", "ATT&CK STIX bundle to sync (timed)")
		atomics  = fs.String("atomics", "../shared/data/atomic-red-team/atomics", "Atomic Red Team atomics folder for the import timing (\"\" skips it)")
		tests    = fs.Int("atomic-tests", 1700, "scale the Atomic import to at least this many tests")
		binary   = fs.String("binary", "bin/violet", "built violet binary for the start-up and RSS measurement (\"\" skips it)")
		two      = fs.Bool("two-instances", true, "with -binary: compare one violet serve process with two behind a round-robin proxy")
		only     = fs.String("pages", "", "comma-separated page names to run (default: all)")
		jsonOut  = fs.String("json", "bench.json", "write the report as JSON here (\"\" skips it)")
		mdOut    = fs.String("markdown", "", "also write the report as markdown here (for docs/bench/)")
		version  = fs.String("version", "dev", "Violet's version, for the report")
		stmts    = fs.Int("statement-cache", database.DefaultStatementCache, "prepared statements per connection of the in-process server (0: off)")
		params   = fs.String("dsn-params", "", "extra connection parameters for Violet's pool, e.g. binary_parameters=yes")
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
	for _, p := range []*string{bundle, atomics, binary} {
		if *p == "" {
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
	if *dbURL == "" {
		fmt.Fprintln(stderr, "violet-bench: starting a throwaway PostgreSQL cluster")
		cluster, err := testdb.StartCluster()
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
	var pages []string
	if *only != "" {
		pages = strings.Split(*only, ",")
	}
	rep, err := bench.Run(ctx, bench.Options{
		DatabaseURL: *dbURL, Scale: s, Concurrency: levels, Duration: *duration, Warmup: *warmup,
		AttackBundle: *bundle, AtomicsDir: *atomics, AtomicTests: *tests, Binary: *binary, TwoInstances: *two,
		Only: pages, Version: *version, Progress: stderr, StatementCache: *stmts,
	})
	if err != nil {
		return err
	}
	rep.WriteTable(stdout)
	if *jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *mdOut != "" {
		f, err := os.Create(*mdOut)
		if err != nil {
			return err
		}
		rep.WriteMarkdown(f, "make bench")
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
