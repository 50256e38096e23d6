package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/internal/attack"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/joblock"
	"violet/internal/libraryimport"
	"violet/internal/testkit/apptest"
)

// jobStatus reads a job's status and error from table.
func jobStatus(t *testing.T, app *apptest.App, table string, id uuid.UUID) (status, msg string) {
	t.Helper()
	if err := app.DB.QueryRow(`SELECT status, error FROM `+table+` WHERE id = $1`, id).Scan(&status, &msg); err != nil {
		t.Fatal(err)
	}
	return status, msg
}

// TestInterruptedJobsAcrossInstances: an ATT&CK sync and an Atomic import
// run in one instance (its own pool, as another process would have).
// Another instance starting up, reaping or showing the jobs' pages leaves
// them running — the regression: start-up used to fail every running job
// — and once the first instance is gone (its connections closed without
// the jobs finishing) the other marks them failed as interrupted.
func TestInterruptedJobsAcrossInstances(t *testing.T) {
	b := apptest.New(t)
	admin := b.SignedIn(t, "admin@example.com", "admin")
	ctx := rule.SystemContext(context.Background())

	// Instance A: its own pool, its jobs begun but never finished.
	dbA, clientA, err := database.Open(b.Config.DatabaseURL, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { clientA.Close() })
	syncer := attack.NewSyncer(clientA, dbA, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sync, err := syncer.Begin(ctx, nil, "enterprise-attack.json")
	if err != nil {
		t.Fatal(err)
	}
	imp := &libraryimport.Job{Client: clientA, DB: dbA, Now: time.Now, Source: "atomics.zip"}
	job, err := imp.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Old enough for the former age-based rule to fail them.
	if _, err := b.DB.Exec(`UPDATE attack_syncs SET updated_at = now() - interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.DB.Exec(`UPDATE import_jobs SET updated_at = now() - interval '1 hour'`); err != nil {
		t.Fatal(err)
	}

	// Instance B starts (the reaper runs at start-up) and its pages are
	// polled: A's jobs stay running.
	b.ReapJobs(context.Background())
	if w := b.GetAs(admin, "/admin/attack-sync/"+sync.ID.String()); w.Code != http.StatusOK {
		t.Fatalf("sync page: %d", w.Code)
	}
	if w := b.GetAs(admin, "/library/import/"+job.ID.String()); w.Code != http.StatusOK {
		t.Fatalf("import page: %d", w.Code)
	}
	if st, msg := jobStatus(t, b, "attack_syncs", sync.ID); st != "running" {
		t.Fatalf("sync of a live instance: %s %q, want running", st, msg)
	}
	if st, msg := jobStatus(t, b, "import_jobs", job.ID); st != "running" {
		t.Fatalf("import of a live instance: %s %q, want running", st, msg)
	}

	// Instance A dies: PostgreSQL sees its lock connections close.
	var killed int
	if err := b.DB.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 2 AND classid::bigint IN ($1, $2)`,
		int64(joblock.AttackSync), int64(joblock.ImportJob)).Scan(&killed); err != nil || killed != 2 {
		t.Fatalf("terminated %d lock holders (%v), want 2", killed, err)
	}
	// The lock goes with the backend, a moment after it is told to end.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var held int
		if err := b.DB.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2`).Scan(&held); err != nil {
			t.Fatal(err)
		}
		if held == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the locks outlived their connections")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The sync's page, polled, shows it failed at once; the periodic
	// reaper fails the import.
	w := b.GetAs(admin, "/admin/attack-sync/"+sync.ID.String())
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `data-status="failed"`) {
		t.Errorf("sync page after A died: %d, want it shown failed", w.Code)
	}
	if st, msg := jobStatus(t, b, "attack_syncs", sync.ID); st != "failed" || !strings.Contains(msg, "interrupted") {
		t.Errorf("sync of a dead instance: %s %q, want failed as interrupted", st, msg)
	}
	if st, _ := jobStatus(t, b, "import_jobs", job.ID); st != "running" {
		t.Fatalf("import reaped before the reaper ran: %s", st)
	}
	reapCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.ReapJobsEvery(reapCtx, time.Hour) }()
	deadline = time.Now().Add(5 * time.Second)
	for {
		st, msg := jobStatus(t, b, "import_jobs", job.ID)
		if st == "failed" {
			if !strings.Contains(msg, "interrupted") {
				t.Errorf("import error %q, want interrupted", msg)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("import of a dead instance still %s", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("ReapJobsEvery did not end with its context")
	}
}
