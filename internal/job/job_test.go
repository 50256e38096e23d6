package job_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/importjob"
	"violet/ent/notification"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/i18n"
	"violet/internal/job"
	"violet/internal/joblock"
	"violet/internal/notify"
	"violet/internal/testkit/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// testKind is a kind of job kept in import_jobs, under a lock namespace
// of its own.
type testKind struct{}

const testLock int32 = 0x76696fff

func (testKind) Name() string { return "test job" }
func (testKind) Lock() int32  { return testLock }
func (testKind) Progress(ctx context.Context, client *ent.Client, id uuid.UUID, _ string, percent int) error {
	return client.ImportJob.UpdateOneID(id).SetProgress(percent).Exec(ctx)
}
func (testKind) Fail(ctx context.Context, tx *ent.Tx, id uuid.UUID, msg string, at time.Time) (bool, error) {
	n, err := tx.ImportJob.Update().Where(importjob.ID(id), importjob.StatusEQ(importjob.StatusRunning)).
		SetStatus(importjob.StatusFailed).SetError(msg).SetFinishedAt(at).Save(ctx)
	return n > 0, err
}
func (testKind) Running(ctx context.Context, client *ent.Client, ids []uuid.UUID) ([]job.Ref, error) {
	q := client.ImportJob.Query().Where(importjob.StatusEQ(importjob.StatusRunning))
	if len(ids) > 0 {
		q.Where(importjob.IDIn(ids...))
	}
	rows, err := q.All(ctx)
	out := make([]job.Ref, len(rows))
	for i, r := range rows {
		out[i] = job.Ref{ID: r.ID, Source: r.Source, StartedBy: r.StartedByID}
	}
	return out, err
}
func (testKind) Message(err error) string {
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	return "failed: " + err.Error()
}
func (testKind) Failed(j job.Ref) notify.Message {
	return notify.Message{Kind: notify.ImportFinished, TitleKey: "notify.title.import_failed",
		TitleArgs: []any{"Source", j.Source}, Link: "/library/import/" + j.ID.String()}
}

// world is a database, a runner with a notifier, and a person to start
// jobs.
type world struct {
	db     *sql.DB
	client *ent.Client
	jobs   *job.Runner
	actor  *auth.Viewer
	sys    context.Context
}

func setup(t *testing.T) *world {
	t.Helper()
	db, client, _ := testdb.Open(t)
	catalog, err := i18n.New("en")
	if err != nil {
		t.Fatal(err)
	}
	sys := rule.SystemContext(context.Background())
	u := client.User.Create().SetEmail("starter@example.com").SetDisplayName("Starter").SetPasswordHash("x").SaveX(sys)
	return &world{
		db: db, client: client, sys: sys,
		jobs:  job.NewRunner(client, db, notify.New(catalog), nil, nil),
		actor: auth.NewViewer(u.ID, u.Email, u.DisplayName, "en", uuid.New(), nil, nil),
	}
}

// begin begins a test job started by w's actor (or the command line).
func (w *world) begin(t *testing.T, actor *auth.Viewer, source string) *job.Job {
	t.Helper()
	j, err := w.jobs.Begin(w.sys, testKind{}, actor, source, func(ctx context.Context, id uuid.UUID) error {
		create := w.client.ImportJob.Create().SetID(id).SetKind(importjob.KindAtomic).SetSource(source)
		if actor != nil {
			create.SetStartedByID(actor.UserID).SetStartedByLabel(actor.Email)
		}
		return create.Exec(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (w *world) row(t *testing.T, id uuid.UUID) *ent.ImportJob {
	t.Helper()
	return w.client.ImportJob.GetX(w.sys, id)
}

// dead asks, as a reaper does, whether nobody holds id's lock.
func (w *world) dead(t *testing.T, id uuid.UUID) bool {
	t.Helper()
	tx, err := w.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	dead, err := joblock.Dead(context.Background(), tx, testLock, id)
	if err != nil {
		t.Fatal(err)
	}
	return dead
}

// told lists the titles of the notifications w's actor got.
func (w *world) told(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, n := range w.client.Notification.Query().Where(notification.UserID(w.actor.UserID)).
		Order(notification.ByCreatedAt()).AllX(w.sys) {
		out = append(out, n.Title)
	}
	return out
}

// TestSucceed: a begun job runs under its lock, shows its progress, and
// succeeds with its write and the notification to its starter in one
// transaction; its lock goes with its end, and a late Fail changes
// nothing.
func TestSucceed(t *testing.T) {
	w := setup(t)
	j := w.begin(t, w.actor, "a.zip")
	if r := w.row(t, j.ID); r.Status != importjob.StatusRunning || w.dead(t, j.ID) {
		t.Fatalf("begun job %s, dead %v: want running and alive", r.Status, w.dead(t, j.ID))
	}
	j.Progress("", 40)
	j.Progress("", 41) // too soon and too small a step to be written
	if p := w.row(t, j.ID).Progress; p != 40 {
		t.Errorf("progress %d, want 40", p)
	}
	err := j.Succeed(w.sys, func(ctx context.Context, tx *ent.Tx) (notify.Message, error) {
		return notify.Message{Kind: notify.ImportFinished, TitleKey: "notify.title.import_succeeded",
				TitleArgs: []any{"Source", j.Source}, Link: "/library/import/" + j.ID.String()},
			tx.ImportJob.UpdateOneID(j.ID).SetStatus(importjob.StatusSucceeded).SetProgress(100).Exec(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := w.row(t, j.ID); r.Status != importjob.StatusSucceeded || !w.dead(t, j.ID) {
		t.Errorf("job %s, dead %v: want succeeded and its lock gone", r.Status, w.dead(t, j.ID))
	}
	if got := w.told(t); len(got) != 1 || !strings.Contains(got[0], "a.zip") {
		t.Errorf("notifications %q, want one about a.zip", got)
	}
	j.Progress("", 50)
	if err := j.Fail(w.sys, errors.New("late"), nil); err == nil || w.row(t, j.ID).Status != importjob.StatusSucceeded {
		t.Error("an ended job was failed")
	}
	if r := w.row(t, j.ID); r.Progress != 100 || len(w.told(t)) != 1 {
		t.Errorf("after its end: progress %d, %d notifications", r.Progress, len(w.told(t)))
	}
}

// TestFailedWrite: a write that fails records nothing and leaves the job
// running until it is failed, with what it did and its message, and the
// starter told.
func TestFailedWrite(t *testing.T) {
	w := setup(t)
	j := w.begin(t, w.actor, "b.zip")
	boom := errors.New("boom")
	if err := j.Succeed(w.sys, func(ctx context.Context, tx *ent.Tx) (notify.Message, error) {
		if err := tx.ImportJob.UpdateOneID(j.ID).SetStatus(importjob.StatusSucceeded).Exec(ctx); err != nil {
			return notify.Message{}, err
		}
		return notify.Message{}, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("Succeed: %v, want boom", err)
	}
	if r := w.row(t, j.ID); r.Status != importjob.StatusRunning || w.dead(t, j.ID) || len(w.told(t)) != 0 {
		t.Fatalf("after a failed write: %s, dead %v, %d notifications", r.Status, w.dead(t, j.ID), len(w.told(t)))
	}
	err := j.Fail(w.sys, boom, func(ctx context.Context, tx *ent.Tx) error {
		return tx.ImportJob.UpdateOneID(j.ID).SetSummary(map[string]any{"files": 3}).Exec(ctx)
	})
	if !errors.Is(err, boom) {
		t.Errorf("Fail returned %v, want its error", err)
	}
	r := w.row(t, j.ID)
	if r.Status != importjob.StatusFailed || r.Error != "failed: boom" || r.FinishedAt == nil || r.Summary["files"] != float64(3) {
		t.Errorf("failed job: %s %q %v %v", r.Status, r.Error, r.FinishedAt, r.Summary)
	}
	if got := w.told(t); len(got) != 1 || !w.dead(t, j.ID) {
		t.Errorf("notifications %q, dead %v: want one, and the lock gone", got, w.dead(t, j.ID))
	}
}

// TestBackground: work runs after Go returns; a panic and work that
// returns without ending its job fail the job; done is told each outcome;
// command-line jobs notify nobody.
func TestBackground(t *testing.T) {
	w := setup(t)
	type outcome struct{ ok bool }
	done := make(chan outcome, 3)
	report := func(ok bool, _ time.Duration) { done <- outcome{ok} }

	ok := w.begin(t, nil, "ok.zip")
	w.jobs.Go(ok, func(ctx context.Context) error {
		return ok.Succeed(ctx, func(ctx context.Context, tx *ent.Tx) (notify.Message, error) {
			return notify.Message{}, tx.ImportJob.UpdateOneID(ok.ID).SetStatus(importjob.StatusSucceeded).Exec(ctx)
		})
	}, report)
	panics := w.begin(t, w.actor, "panic.zip")
	w.jobs.Go(panics, func(context.Context) error { panic("boom") }, report)
	forgets := w.begin(t, nil, "forgets.zip")
	w.jobs.Go(forgets, func(context.Context) error { return nil }, report)

	oks := 0
	for range 3 {
		if (<-done).ok {
			oks++
		}
	}
	w.jobs.Wait(context.Background())
	if oks != 1 {
		t.Errorf("%d outcomes ok, want 1 (the jobs failed are not)", oks)
	}
	if r := w.row(t, ok.ID); r.Status != importjob.StatusSucceeded {
		t.Errorf("ok job %s", r.Status)
	}
	if r := w.row(t, panics.ID); r.Status != importjob.StatusFailed || !strings.Contains(r.Error, "panicked: boom") || !w.dead(t, panics.ID) {
		t.Errorf("job that panicked: %s %q", r.Status, r.Error)
	}
	if r := w.row(t, forgets.ID); r.Status != importjob.StatusFailed || !strings.Contains(r.Error, "without ending") {
		t.Errorf("job left unended: %s %q", r.Status, r.Error)
	}
	if got := w.told(t); len(got) != 1 {
		t.Errorf("notifications %q, want the one of the job the actor started", got)
	}
}

// TestWaitCancels: Wait lets work run until its context ends, then
// cancels it; the job records the interruption.
func TestWaitCancels(t *testing.T) {
	w := setup(t)
	j := w.begin(t, nil, "slow.zip")
	started := make(chan struct{})
	w.jobs.Go(j, func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return j.Fail(ctx, ctx.Err(), nil)
	}, nil)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	w.jobs.Wait(ctx)
	if r := w.row(t, j.ID); r.Status != importjob.StatusFailed || r.Error != "interrupted" {
		t.Errorf("job cut at shutdown: %s %q, want failed as interrupted", r.Status, r.Error)
	}
}

// TestReap: a running job whose lock nobody holds (its instance died) is
// failed as interrupted and its starter told; a live one is left alone,
// and ids limit the reaping to those jobs.
func TestReap(t *testing.T) {
	w := setup(t)
	stale := w.client.ImportJob.Create().SetKind(importjob.KindAtomic).SetSource("stale.zip").
		SetStartedByID(w.actor.UserID).SaveX(w.sys)
	other := w.client.ImportJob.Create().SetKind(importjob.KindAtomic).SetSource("other.zip").SaveX(w.sys)
	live := w.begin(t, w.actor, "live.zip")

	if n, err := w.jobs.Reap(context.Background(), testKind{}, stale.ID, live.ID); err != nil || n != 1 {
		t.Fatalf("reaped %d (%v), want the stale one", n, err)
	}
	if r := w.row(t, stale.ID); r.Status != importjob.StatusFailed || r.Error != "interrupted" || r.FinishedAt == nil {
		t.Errorf("stale job: %s %q", r.Status, r.Error)
	}
	if got := w.told(t); len(got) != 1 || !strings.Contains(got[0], "stale.zip") {
		t.Errorf("notifications %q, want one about stale.zip", got)
	}
	if r := w.row(t, other.ID); r.Status != importjob.StatusRunning {
		t.Errorf("job outside ids: %s", r.Status)
	}
	if r := w.row(t, live.ID); r.Status != importjob.StatusRunning {
		t.Errorf("live job: %s", r.Status)
	}
	w.jobs.ReapAll(context.Background(), testKind{})
	if r := w.row(t, other.ID); r.Status != importjob.StatusFailed {
		t.Errorf("ReapAll left the dead job %s", r.Status)
	}
	if r := w.row(t, live.ID); r.Status != importjob.StatusRunning {
		t.Errorf("ReapAll failed the live job: %s", r.Status)
	}
}
