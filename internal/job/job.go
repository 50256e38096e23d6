// Package job is the one runner of Violet's recorded jobs: the ATT&CK
// sync (internal/attack) and the library import (internal/libraryimport)
// plug into it as a Kind. A job is a row of its kind's table
// (attack_syncs, import_jobs) that shows its progress while it runs and
// its result after, so that any instance can show it.
//
// The Runner begins a job under its liveness lock (see joblock), runs its
// work in the background, outliving the request that started it (the
// command line runs the same work in the foreground), records its
// progress, ends it (its row, audit record and the notification to whoever
// started it, in one transaction) and reaps the jobs whose instance died.
// See docs/ARCHITECTURE.md, "A job's path".
package job

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/joblock"
	"violet/internal/notify"
)

// Kind is what one kind of job plugs into the Runner: its lock namespace
// and how its row is written. Every job table has the columns the Runner
// relies on: status (running, succeeded, failed), progress, error,
// finished_at, source and started_by_id.
type Kind interface {
	// Name names the kind in the log ("ATT&CK sync").
	Name() string
	// Lock is the namespace of the kind's liveness locks (joblock).
	Lock() int32
	// Progress records how far running job id is (phase may be "").
	Progress(ctx context.Context, client *ent.Client, id uuid.UUID, phase string, percent int) error
	// Fail records job id as failed with msg, finished at at, if it is
	// still running (a job that ended meanwhile keeps its end), and
	// reports whether it did.
	Fail(ctx context.Context, tx *ent.Tx, id uuid.UUID, msg string, at time.Time) (bool, error)
	// Running lists the running jobs: those of ids when some are given,
	// else all of them.
	Running(ctx context.Context, client *ent.Client, ids []uuid.UUID) ([]Ref, error)
	// Message is what the person who started a job is told of err, its
	// failure: the problem with what they gave, or that something went
	// wrong inside Violet (details in the log), never internals.
	// context.Canceled is a job interrupted by its instance stopping.
	Message(err error) string
	// Failed is the notification telling the person who started job
	// that it failed.
	Failed(job Ref) notify.Message
}

// Ref is what the Runner knows of a job: its row, what it was started
// from, and who started it (nil: the command line).
type Ref struct {
	ID        uuid.UUID
	Source    string
	StartedBy *uuid.UUID
}

// Runner begins, runs, ends and reaps jobs. Its background work keeps a
// WaitGroup and a context that Wait cancels at shutdown.
type Runner struct {
	client   *ent.Client
	db       *sql.DB
	notifier *notify.Notifier
	now      func() time.Time
	log      *slog.Logger

	work sync.WaitGroup
	ctx  context.Context
	stop context.CancelFunc
}

// NewRunner returns a runner writing job rows with client. It holds each
// running job's liveness lock on a connection of db: a running job
// without its lock is taken for dead by any server's reaper, so db may be
// nil only where no server runs (tests of a job's work). notifier tells
// the person who started a job that it ended (nil: nobody is told, as on
// the command line); now nil means time.Now; log nil discards.
func NewRunner(client *ent.Client, db *sql.DB, notifier *notify.Notifier, now func() time.Time, log *slog.Logger) *Runner {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{client: client, db: db, notifier: notifier, now: now, log: log}
	// Background work runs as the system: whoever started a job was
	// allowed to when it began (its workflow checked), and the work
	// outlives their request and its viewer.
	r.ctx, r.stop = context.WithCancel(rule.SystemContext(context.Background()))
	return r
}

// Client is the client the runner's jobs write with.
func (r *Runner) Client() *ent.Client { return r.client }

// Now is the runner's clock, for the time a job finishes.
func (r *Runner) Now() time.Time { return r.now() }

// Log is where the runner's jobs log.
func (r *Runner) Log() *slog.Logger { return r.log }

// Job is a job begun by a Runner: its row and, until it ends, its
// liveness lock and its progress.
type Job struct {
	Ref
	kind Kind
	r    *Runner

	mu      sync.Mutex
	held    *joblock.Held
	ended   bool
	phase   string
	percent int
	last    time.Time
}

// Begin records a new running job of kind k started by actor (nil: the
// command line) from source. It takes the job's liveness lock, then
// create writes its row as running with the id given, so that no
// instance ever sees the job running and unlocked. The job ends with
// Succeed or Fail, which let the lock go.
func (r *Runner) Begin(ctx context.Context, k Kind, actor *auth.Viewer, source string, create func(ctx context.Context, id uuid.UUID) error) (*Job, error) {
	j := &Job{Ref: Ref{ID: uuid.New(), Source: source}, kind: k, r: r}
	if actor != nil {
		j.StartedBy = &actor.UserID
	}
	if r.db != nil {
		held, err := joblock.Hold(ctx, r.db, k.Lock(), j.ID)
		if err != nil {
			return nil, err
		}
		j.held = held
	}
	if err := create(ctx, j.ID); err != nil {
		j.end()
		return nil, err
	}
	return j, nil
}

// Go runs work for job j in the background: it outlives the request that
// began the job, with a context that Wait cancels once the grace period
// is over. Work ends the job (Succeed or Fail); if it panics, or returns
// without ending the job, the job is failed. done, when not nil, is told
// how the work ended and how long it took.
func (r *Runner) Go(j *Job, work func(ctx context.Context) error, done func(ok bool, took time.Duration)) {
	r.work.Add(1)
	go func() {
		defer r.work.Done()
		start := time.Now()
		err := r.run(j, work)
		if done != nil {
			done(err == nil, time.Since(start))
		}
	}()
}

// errUnfinished is the failure of work that returned without ending its
// job: a bug, told as one.
var errUnfinished = errors.New("the job's work returned without ending it")

func (r *Runner) run(j *Job, work func(ctx context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("background job panicked", "kind", j.kind.Name(), "job", j.ID, "panic", v)
			err = fmt.Errorf("%s panicked: %v", j.kind.Name(), v)
		}
		if !j.isEnded() {
			if err == nil {
				err = errUnfinished
			}
			_ = j.Fail(r.ctx, err, nil)
		}
	}()
	return work(r.ctx)
}

// Wait lets the background work finish until ctx ends, then cancels it
// (its transactions roll back and its jobs record the interruption).
func (r *Runner) Wait(ctx context.Context) {
	done := make(chan struct{})
	go func() { r.work.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		r.stop()
		<-done
	}
}

// Progress records how far j is: phase (which its kind may show) and
// percent, kept under 100 until the job succeeds. It writes the row at
// most every 250 ms unless the phase changed or the percent moved 5
// points, so that reporting costs the work little; any instance shows it.
func (j *Job) Progress(phase string, percent int) {
	percent = min(max(percent, 0), 99)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.ended || (phase == j.phase && percent == j.percent) {
		return
	}
	if phase == j.phase && time.Since(j.last) < 250*time.Millisecond && percent-j.percent < 5 {
		return
	}
	j.phase, j.percent, j.last = phase, percent, time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := j.kind.Progress(rule.SystemContext(ctx), j.r.client, j.ID, phase, percent); err != nil {
		j.r.log.Warn("record a job's progress", "kind", j.kind.Name(), "job", j.ID, "err", err)
	}
}

// Succeed ends j: write records its end in one transaction (its row with
// the summary, its audit record) and returns the notification telling
// the person who started it, sent in the same transaction. On error
// nothing is recorded and the job still runs: the caller fails it.
func (j *Job) Succeed(ctx context.Context, write func(ctx context.Context, tx *ent.Tx) (notify.Message, error)) error {
	err := database.WithTx(ctx, j.r.client, func(tx *ent.Tx) error {
		m, err := write(ctx, tx)
		if err != nil {
			return err
		}
		return j.r.tell(ctx, tx, m, j.StartedBy)
	})
	if err != nil {
		return err
	}
	j.end()
	return nil
}

// Fail ends j as failed because of err: its row gets the kind's message
// for the person who started it, also (when not nil) writes what the job
// did before it failed, and that person is told, in one transaction. A
// job that ended already is left as it is. The job's context may be
// spent; recording the failure must not be. Fail returns err, so that
// work can end with `return j.Fail(ctx, err, nil)`.
func (j *Job) Fail(ctx context.Context, err error, also func(ctx context.Context, tx *ent.Tx) error) error {
	if j.isEnded() {
		return err
	}
	r := j.r
	r.log.Warn(j.kind.Name()+" failed", "job", j.ID, "source", j.Source, "err", err)
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	bg = rule.SystemContext(bg)
	msg := j.kind.Message(err)
	uerr := database.WithTx(bg, r.client, func(tx *ent.Tx) error {
		failed, ferr := j.kind.Fail(bg, tx, j.ID, msg, r.now())
		if ferr != nil || !failed {
			return ferr
		}
		if also != nil {
			if ferr := also(bg, tx); ferr != nil {
				return ferr
			}
		}
		return r.tell(bg, tx, j.kind.Failed(j.Ref), j.StartedBy)
	})
	if uerr != nil {
		r.log.Error("record a failed job", "kind", j.kind.Name(), "job", j.ID, "err", uerr)
	}
	j.end()
	return err
}

// end stops the progress and lets the lock go once the job's end is
// committed (or could not be: a lock let go makes it the reaper's).
func (j *Job) end() {
	j.mu.Lock()
	j.ended = true
	held := j.held
	j.held = nil
	j.mu.Unlock()
	held.Release()
}

func (j *Job) isEnded() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.ended
}

// tell sends m to the person who started a job, in tx; command-line jobs
// and runners without a notifier have nobody to tell.
func (r *Runner) tell(ctx context.Context, tx *ent.Tx, m notify.Message, to *uuid.UUID) error {
	if r.notifier == nil || to == nil {
		return nil
	}
	_, err := r.notifier.Send(ctx, tx, m, *to)
	return err
}

// Reap marks as failed the running jobs of kind k whose instance is gone
// (nobody holds their liveness lock: its connection closed with the
// process; their transaction rolled back with them), with the kind's
// message for an interruption, and tells whoever started them. Jobs
// running in any live instance are left alone. ids limits it to those
// jobs (a job's page checks its own); none means every running one.
func (r *Runner) Reap(ctx context.Context, k Kind, ids ...uuid.UUID) (int, error) {
	ctx = rule.SystemContext(ctx)
	running, err := k.Running(ctx, r.client, ids)
	if err != nil {
		return 0, fmt.Errorf("list running jobs (%s): %w", k.Name(), err)
	}
	n := 0
	for _, job := range running {
		reaped := false
		err := database.WithTx(ctx, r.client, func(tx *ent.Tx) error {
			dead, err := joblock.Dead(ctx, tx, k.Lock(), job.ID)
			if err != nil || !dead {
				return err
			}
			// Fail's condition on the status leaves alone a job that
			// ended (and let its lock go) since the list was read.
			if reaped, err = k.Fail(ctx, tx, job.ID, k.Message(context.Canceled), r.now()); err != nil || !reaped {
				return err
			}
			return r.tell(ctx, tx, k.Failed(job), job.StartedBy)
		})
		if err != nil {
			return n, fmt.Errorf("reap %s %s: %w", k.Name(), job.ID, err)
		}
		if reaped {
			n++
		}
	}
	return n, nil
}

// ReapAll reaps every kind of kinds and logs what it found.
func (r *Runner) ReapAll(ctx context.Context, kinds ...Kind) {
	for _, k := range kinds {
		if n, err := r.Reap(ctx, k); err != nil && ctx.Err() == nil {
			r.log.Warn("look for interrupted jobs", "kind", k.Name(), "err", err)
		} else if n > 0 {
			r.log.Warn("jobs whose instance stopped marked as failed", "kind", k.Name(), "count", n)
		}
	}
}

// ReapEvery reaps kinds at once and then every interval until ctx ends
// (run it in its own goroutine), so that an instance that dies mid-job is
// noticed by the others. It looks at each running job's liveness lock
// rather than at its age: jobs running in another instance behind the
// same load balancer are left alone.
func (r *Runner) ReapEvery(ctx context.Context, interval time.Duration, kinds ...Kind) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r.ReapAll(ctx, kinds...)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
