package libraryimport_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"violet/internal/auth/rule"
	"violet/internal/libraryimport"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// count runs a count query.
func count(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRunImportsAndBuildsScenario: a job run on a technique file (as the
// command line runs it: no actor, no notifier) imports its tests, builds
// the scenario asked for, and finishes succeeded with its summary and
// audit events; its liveness lock is gone once it ends.
func TestRunImportsAndBuildsScenario(t *testing.T) {
	db, client, _ := testdb.Open(t)
	ctx := rule.SystemContext(context.Background())
	imp := &libraryimport.Job{
		Client: client, DB: db, Now: time.Now, Source: "T9999.yaml",
		Files:    []libraryimport.File{{Name: "T9999.yaml", Path: "../atomic/testdata/T9999.yaml"}},
		Scenario: &libraryimport.Scenario{Name: "From the import"},
	}
	job, err := imp.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := imp.Run(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 1 || sum.Added != 2 || sum.ScenarioTests != 2 || sum.ScenarioName != "From the import" {
		t.Errorf("summary %+v, want 1 file, 2 added, a scenario of 2 tests", sum)
	}
	var status string
	var progress int
	if err := db.QueryRow(`SELECT status, progress FROM import_jobs WHERE id = $1 AND finished_at IS NOT NULL`, job.ID).Scan(&status, &progress); err != nil || status != "succeeded" || progress != 100 {
		t.Errorf("job %s at %d%% (%v), want succeeded at 100%%", status, progress, err)
	}
	if n := count(t, db, `SELECT count(*) FROM scenario_template_tests st JOIN scenario_templates s ON s.id = st.scenario_template_id WHERE s.id::text = $1`, sum.ScenarioID); n != 2 {
		t.Errorf("scenario holds %d tests, want 2", n)
	}
	if n := count(t, db, `SELECT count(*) FROM audit_events WHERE (action = 'library.imported' AND target_id = $1) OR (action = 'scenario.created' AND target_id = $2)`, job.ID.String(), sum.ScenarioID); n != 2 {
		t.Errorf("%d audit events, want the import's and the scenario's", n)
	}
	if n := count(t, db, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2`); n != 0 {
		t.Errorf("%d liveness locks held after the job ended, want 0", n)
	}
}

// TestReapInterruptedImports: imports left running by a process that is
// gone (nobody holds their liveness lock) are failed by the reaper; a live
// one is left alone, however old.
func TestReapInterruptedImports(t *testing.T) {
	db, client, _ := testdb.Open(t)
	var stale string
	if err := db.QueryRow(`INSERT INTO import_jobs (kind, source, status, updated_at) VALUES ('atomic', 'old.zip', 'running', now() - interval '10 minutes') RETURNING id`).Scan(&stale); err != nil {
		t.Fatal(err)
	}
	imp := &libraryimport.Job{Client: client, DB: db, Now: time.Now, Source: "new.zip"}
	live, err := imp.Begin(rule.SystemContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE import_jobs SET updated_at = now() - interval '10 minutes' WHERE id = $1`, live.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := libraryimport.Reap(context.Background(), client, time.Now); n != 1 || err != nil {
		t.Errorf("reaped %d (%v), want 1", n, err)
	}
	var status, msg string
	if err := db.QueryRow(`SELECT status, error FROM import_jobs WHERE id = $1 AND finished_at IS NOT NULL`, stale).Scan(&status, &msg); err != nil || status != "failed" || !strings.Contains(msg, "interrupted") {
		t.Errorf("stale job: %s %q %v", status, msg, err)
	}
	if err := db.QueryRow(`SELECT status FROM import_jobs WHERE id = $1`, live.ID).Scan(&status); err != nil || status != "running" {
		t.Errorf("live job: %s %v", status, err)
	}
	// No files: it fails with the reason and lets its lock go.
	if _, err := imp.Run(context.Background(), live); err == nil || !strings.Contains(err.Error(), "no technique file") {
		t.Errorf("run without files: %v, want it to fail for want of files", err)
	}
	if err := db.QueryRow(`SELECT status, error FROM import_jobs WHERE id = $1`, live.ID).Scan(&status, &msg); err != nil || status != "failed" || !strings.Contains(msg, "no technique file") {
		t.Errorf("job run without files: %s %q %v", status, msg, err)
	}
}
