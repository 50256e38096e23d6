package attack

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/attacksync"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/database"
	"violet/internal/joblock"
)

// Syncer runs catalogue syncs as recorded jobs: each one is a row of
// attack_syncs that shows its progress while it runs and its result after.
type Syncer struct {
	client   *ent.Client
	http     *http.Client
	now      func() time.Time
	log      *slog.Logger
	finished FinishFunc
	// db holds each running job's liveness lock (see joblock), so that
	// any instance can tell a job whose instance died from a live one.
	db    *sql.DB
	mu    sync.Mutex
	locks map[uuid.UUID]*joblock.Held
}

// release lets a finished job's lock go (its end is committed).
func (s *Syncer) release(id uuid.UUID) {
	s.mu.Lock()
	h := s.locks[id]
	delete(s.locks, id)
	s.mu.Unlock()
	h.Release()
}

// FinishFunc runs in the transaction that finishes a job (to notify the
// person who started it): counts is nil when the sync failed.
type FinishFunc func(ctx context.Context, tx *ent.Tx, job *ent.AttackSync, counts *Counts) error

// OnFinish sets what runs in the transaction that finishes each job.
func (s *Syncer) OnFinish(fn FinishFunc) { s.finished = fn }

func (s *Syncer) finish(ctx context.Context, tx *ent.Tx, job *ent.AttackSync, counts *Counts) error {
	if s.finished == nil {
		return nil
	}
	return s.finished(ctx, tx, job, counts)
}

// NewSyncer returns a syncer; httpClient nil means DefaultHTTPClient. It
// holds each running job's liveness lock on a connection of db: a running
// job without its lock is taken for dead by any server's Reap, so db may
// be nil only where no server runs (unit tests of the sync itself).
func NewSyncer(client *ent.Client, db *sql.DB, httpClient *http.Client, now func() time.Time, log *slog.Logger) *Syncer {
	if httpClient == nil {
		httpClient = DefaultHTTPClient()
	}
	if now == nil {
		now = time.Now
	}
	return &Syncer{client: client, db: db, http: httpClient, now: now, log: log, locks: map[uuid.UUID]*joblock.Held{}}
}

// DefaultHTTPClient fetches bundles with timeouts at every step, so that an
// unreachable or stalled server ends in an error rather than a wait.
func DefaultHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 5 * time.Minute,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
		},
	}
}

// Begin records a new running sync of source started by actor (nil for the
// command line). The job's liveness lock is taken before its row exists,
// so no instance ever sees it running and unlocked; Run or Fail lets the
// lock go.
func (s *Syncer) Begin(ctx context.Context, actor *auth.Viewer, source string) (*ent.AttackSync, error) {
	id := uuid.New()
	if s.db != nil {
		held, err := joblock.Hold(ctx, s.db, joblock.AttackSync, id)
		if err != nil {
			return nil, fmt.Errorf("record the sync: %w", err)
		}
		s.mu.Lock()
		s.locks[id] = held
		s.mu.Unlock()
	}
	create := s.client.AttackSync.Create().SetID(id).SetSource(source).SetPhase(PhaseQueued)
	if actor != nil {
		create.SetStartedByID(actor.UserID).SetStartedByLabel(actor.Email)
	}
	job, err := create.Save(ctx)
	if err != nil {
		s.release(id)
		return nil, fmt.Errorf("record the sync: %w", err)
	}
	return job, nil
}

// Phases of a sync job, shown on its page.
const (
	PhaseQueued   = "queued"
	PhaseDownload = "download"
	PhaseRead     = "read"
	PhaseWrite    = "write"
	PhaseDone     = "done"
)

// Run reads a bundle from r (size bytes, or -1 when unknown), syncs it in
// one transaction and finishes the job: succeeded with its counts, or
// failed with a message for the person who started it. version is the
// ATT&CK release to record when the bundle does not say.
func (s *Syncer) Run(ctx context.Context, job *ent.AttackSync, r io.Reader, size int64, version, phase string) (Counts, error) {
	rep := &reporter{s: s, id: job.ID}
	b, err := Read(r, ReadOptions{Version: version, Progress: func(n int64) {
		if size > 0 {
			rep.report(phase, int(60*n/size))
		}
	}})
	if err != nil {
		return Counts{}, s.fail(ctx, job, err)
	}
	rep.report(PhaseWrite, 60)
	var counts Counts
	sys := rule.SystemContext(ctx)
	err = database.WithTx(sys, s.client, func(tx *ent.Tx) error {
		counts, err = Sync(sys, tx, b, func(done, total int) { rep.report(PhaseWrite, 60+40*done/max(total, 1)) })
		if err != nil {
			return err
		}
		if err := tx.AttackSync.UpdateOneID(job.ID).SetStatus(attacksync.StatusSucceeded).SetPhase(PhaseDone).
			SetProgress(100).SetAttackVersion(b.Version).SetAdded(counts.Added).SetUpdated(counts.Updated).
			SetRevoked(counts.Revoked).SetUnchanged(counts.Unchanged).SetFinishedAt(s.now()).Exec(sys); err != nil {
			return err
		}
		ev := audit.Event{Action: audit.AttackSynced, TargetType: "attack_sync", TargetID: job.ID.String(),
			TargetLabel: job.Source, Details: map[string]any{
				"attack_version": b.Version, "added": counts.Added, "updated": counts.Updated,
				"revoked": counts.Revoked, "unchanged": counts.Unchanged,
			}}
		if job.StartedByID != nil {
			ev.Actor = auth.NewViewer(*job.StartedByID, job.StartedByLabel, "", "", uuid.Nil, nil, nil)
		}
		if err := audit.Record(sys, tx.AuditEvent, ev); err != nil {
			return err
		}
		return s.finish(sys, tx, job, &counts)
	})
	rep.stop()
	if err != nil {
		return Counts{}, s.fail(ctx, job, err)
	}
	s.release(job.ID)
	return counts, nil
}

// FetchError is a bundle that could not be downloaded.
type FetchError struct {
	URL    string
	Reason string
}

func (e *FetchError) Error() string { return fmt.Sprintf("cannot download %s: %s", e.URL, e.Reason) }

// Fetch opens the bundle at url. The caller reads and closes it; size is
// -1 when the server does not say.
func (s *Syncer) Fetch(ctx context.Context, url string) (io.ReadCloser, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil || (req.URL.Scheme != "https" && req.URL.Scheme != "http") {
		return nil, 0, &FetchError{URL: url, Reason: "not an http(s) URL"}
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, 0, &FetchError{URL: url, Reason: networkReason(err)}
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, 0, &FetchError{URL: url, Reason: "the server answered " + resp.Status}
	}
	return resp.Body, resp.ContentLength, nil
}

// networkReason says in plain words why a download failed.
func networkReason(err error) string {
	var (
		dnsErr *net.DNSError
		opErr  *net.OpError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "the server did not answer in time (timeout)"
	case errors.As(err, &dnsErr):
		return "the host name cannot be resolved; is the network available? (" + dnsErr.Error() + ")"
	case errors.As(err, &opErr):
		return "the network is unavailable or the server refused the connection (" + opErr.Error() + ")"
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// VersionFromName reads the ATT&CK release from a bundle's file name or
// URL (enterprise-attack-16.1.json), "" when it has none.
func VersionFromName(name string) string {
	if m := versionRE.FindStringSubmatch(name); m != nil {
		return m[1]
	}
	return ""
}

var versionRE = regexp.MustCompile(`-(\d+\.\d+)\.json(?:$|\?)`)

// Message is what the person who started a sync is told about err: the
// problem with their bundle or download, or that something went wrong
// inside Violet (details in the log), never internals.
func Message(err error) string {
	var (
		readErr  *ReadError
		fetchErr *FetchError
	)
	switch {
	case errors.As(err, &readErr), errors.As(err, &fetchErr), errors.Is(err, ErrSyncRunning):
		return err.Error()
	case errors.Is(err, context.Canceled):
		return "the sync was interrupted before it finished; the catalogue is unchanged"
	}
	return "the sync failed inside Violet (see the server log); the catalogue is unchanged"
}

// Fail ends a job that could not run (a download error, say) as failed.
func (s *Syncer) Fail(ctx context.Context, job *ent.AttackSync, err error) error {
	return s.fail(ctx, job, err)
}

func (s *Syncer) fail(ctx context.Context, job *ent.AttackSync, err error) error {
	s.log.Warn("ATT&CK sync failed", "sync", job.ID, "source", job.Source, "err", err)
	// The job's context may be spent; recording the failure must not be.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	uerr := database.WithTx(bg, s.client, func(tx *ent.Tx) error {
		if err := tx.AttackSync.UpdateOneID(job.ID).SetStatus(attacksync.StatusFailed).SetPhase(PhaseDone).
			SetError(Message(err)).SetFinishedAt(s.now()).Exec(bg); err != nil {
			return err
		}
		return s.finish(rule.SystemContext(bg), tx, job, nil)
	})
	if uerr != nil {
		s.log.Error("record the failed sync", "sync", job.ID, "err", uerr)
	}
	s.release(job.ID)
	return err
}

// Reap marks the running syncs whose instance is gone (nobody holds their
// liveness lock: its connection closed with the process) as failed, with
// the "interrupted" message; their transaction rolled back with them.
// Syncs running in any live instance are left alone. ids limits it to
// those jobs (a job's page checks its own); none means every running one.
func (s *Syncer) Reap(ctx context.Context, ids ...uuid.UUID) (int, error) {
	ctx = rule.SystemContext(ctx)
	q := s.client.AttackSync.Query().Where(attacksync.StatusEQ(attacksync.StatusRunning))
	if len(ids) > 0 {
		q.Where(attacksync.IDIn(ids...))
	}
	running, err := q.IDs(ctx)
	if err != nil {
		return 0, fmt.Errorf("list running syncs: %w", err)
	}
	n := 0
	for _, id := range running {
		err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
			dead, err := joblock.Dead(ctx, tx, joblock.AttackSync, id)
			if err != nil || !dead {
				return err
			}
			// The status condition leaves alone a job that finished
			// (and let its lock go) since the list was read.
			m, err := tx.AttackSync.Update().Where(attacksync.ID(id), attacksync.StatusEQ(attacksync.StatusRunning)).
				SetStatus(attacksync.StatusFailed).SetPhase(PhaseDone).SetFinishedAt(s.now()).
				SetError(Message(context.Canceled)).Save(ctx)
			n += m
			return err
		})
		if err != nil {
			return n, fmt.Errorf("reap sync %s: %w", id, err)
		}
	}
	return n, nil
}

// reporter writes a job's progress to its row, at most a few times a
// second, so that any instance can show it.
type reporter struct {
	s       *Syncer
	id      uuid.UUID
	mu      sync.Mutex
	last    time.Time
	phase   string
	percent int
	stopped bool
}

func (r *reporter) report(phase string, percent int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped || (phase == r.phase && percent == r.percent) {
		return
	}
	if phase == r.phase && time.Since(r.last) < 250*time.Millisecond {
		return
	}
	r.phase, r.percent, r.last = phase, percent, time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.s.client.AttackSync.UpdateOneID(r.id).SetPhase(phase).SetProgress(min(max(percent, 0), 99)).Exec(ctx); err != nil {
		r.s.log.Warn("record sync progress", "sync", r.id, "err", err)
	}
}

func (r *reporter) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
}
