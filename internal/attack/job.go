package attack

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
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
	"strings"
	"sync"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"violet/ent"
	"violet/ent/attacksync"
	"violet/ent/setting"
	"violet/internal/app"
	"violet/internal/audit"
	"violet/internal/auth"
	"violet/internal/auth/rule"
	"violet/internal/i18n"
	"violet/internal/job"
	"violet/internal/joblock"
	"violet/internal/notify"
	"violet/internal/paths"
	"violet/internal/seed"
	"violet/views/admin"
)

// Syncer runs catalogue syncs as jobs of a job.Runner (see internal/job):
// each one is a row of attack_syncs that shows its progress while it runs
// and its result after.
type Syncer struct {
	jobs *job.Runner
	http *http.Client
	// begun holds the jobs begun by Begin until Run or Fail ends them.
	mu    sync.Mutex
	begun map[uuid.UUID]*job.Job
}

// NewSyncer returns a syncer with a runner of its own that tells nobody
// when a sync ends (the command line, tests); httpClient nil means
// DefaultHTTPClient. It holds each running job's liveness lock on a
// connection of db: a running job without its lock is taken for dead by
// any server's Reap, so db may be nil only where no server runs (unit
// tests of the sync itself).
func NewSyncer(client *ent.Client, db *sql.DB, httpClient *http.Client, now func() time.Time, log *slog.Logger) *Syncer {
	return NewSyncerOn(job.NewRunner(client, db, nil, now, log), httpClient)
}

// NewSyncerOn returns a syncer whose jobs run on jobs (a server's, whose
// notifier tells the person who started a sync that it ended);
// httpClient nil means DefaultHTTPClient.
func NewSyncerOn(jobs *job.Runner, httpClient *http.Client) *Syncer {
	if httpClient == nil {
		httpClient = DefaultHTTPClient()
	}
	return &Syncer{jobs: jobs, http: httpClient, begun: map[uuid.UUID]*job.Job{}}
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
// so no instance ever sees it running and unlocked; Run, Sync or Fail
// lets the lock go.
func (s *Syncer) Begin(ctx context.Context, actor *auth.Viewer, source string) (*ent.AttackSync, error) {
	j, row, err := s.begin(ctx, actor, source)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.begun[row.ID] = j
	s.mu.Unlock()
	return row, nil
}

func (s *Syncer) begin(ctx context.Context, actor *auth.Viewer, source string) (*job.Job, *ent.AttackSync, error) {
	var row *ent.AttackSync
	j, err := s.jobs.Begin(ctx, Syncs{}, actor, source, func(ctx context.Context, id uuid.UUID) (err error) {
		create := s.jobs.Client().AttackSync.Create().SetID(id).SetSource(source).SetPhase(PhaseQueued)
		if actor != nil {
			create.SetStartedByID(actor.UserID).SetStartedByLabel(actor.Email)
		}
		row, err = create.Save(ctx)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("record the sync: %w", err)
	}
	return j, row, nil
}

// take hands over the job Begin began for row, once: what ends it.
func (s *Syncer) take(row *ent.AttackSync) (*job.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.begun[row.ID]
	if j == nil {
		return nil, fmt.Errorf("sync %s was not begun by this syncer, or has ended", row.ID)
	}
	delete(s.begun, row.ID)
	return j, nil
}

// Phases of a sync job, shown on its page.
const (
	PhaseQueued   = "queued"
	PhaseDownload = "download"
	PhaseRead     = "read"
	PhaseWrite    = "write"
	PhaseDone     = "done"
)

// Source is where a sync reads its bundle: a URL to download, or a file
// on disk.
type Source struct {
	URL  string
	Path string
	// Name is the file's name the history shows (default: the path's).
	Name string
	// Version is the ATT&CK release to record when the bundle does not say
	// (default: from the name or URL, see VersionFromName).
	Version string
	// Temporary marks a copy of an upload, removed once the sync is done
	// with it.
	Temporary bool
}

// Label is what the history shows of src: its URL or its file's name.
func (src Source) Label() string {
	if src.URL != "" {
		return src.URL
	}
	return cmp.Or(src.Name, filepath.Base(src.Path))
}

// Start begins a sync of src started by the viewer and runs it in the
// background of the runner; done (may be nil) is told how it ended. The
// viewer is sent to the returned job's page, which polls its row.
func (s *Syncer) Start(ctx context.Context, src Source, done func(ok bool, took time.Duration)) (*ent.AttackSync, error) {
	j, row, err := s.begin(ctx, auth.FromContext(ctx), src.Label())
	if err != nil {
		src.Discard()
		return nil, err
	}
	s.jobs.Go(j, func(ctx context.Context) error {
		_, err := s.sync(ctx, j, row, src)
		return err
	}, done)
	return row, nil
}

// URLForm is the "sync from URL" form.
type URLForm struct {
	URL      string
	Remember bool // keep the URL as the default (the attack.source_url setting)
}

// StartURL checks the form (its errors as *app.Invalid), keeps the URL as
// the default when asked, and starts a sync of the bundle at the URL
// (Start).
func (s *Syncer) StartURL(ctx context.Context, f URLForm, done func(ok bool, took time.Duration)) (*ent.AttackSync, error) {
	f.URL = strings.TrimSpace(f.URL)
	u, err := url.Parse(f.URL)
	switch {
	case f.URL == "":
		return nil, app.Invalidf("url", "form.required")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, app.Invalidf("url", "attack_sync.url.invalid")
	}
	if f.Remember {
		value, _ := json.Marshal(f.URL)
		if err := s.jobs.Client().Setting.Update().Where(setting.Key(seed.SettingAttackSourceURL)).SetValue(value).Exec(ctx); err != nil {
			return nil, fmt.Errorf("save the default URL: %w", err)
		}
	}
	return s.Start(ctx, Source{URL: f.URL}, done)
}

// Sync reads the bundle of src (downloading it, or opening the file) and
// runs the sync Begin began (Run); a bundle that cannot be had fails it.
// The command line runs it in the foreground, the web in the background
// (Start).
func (s *Syncer) Sync(ctx context.Context, row *ent.AttackSync, src Source) (Counts, error) {
	j, err := s.take(row)
	if err != nil {
		src.Discard()
		return Counts{}, err
	}
	return s.sync(ctx, j, row, src)
}

func (s *Syncer) sync(ctx context.Context, j *job.Job, row *ent.AttackSync, src Source) (Counts, error) {
	defer src.Discard()
	version := cmp.Or(src.Version, VersionFromName(src.Label()))
	if src.URL != "" {
		body, size, err := s.Fetch(ctx, src.URL)
		if err != nil {
			return Counts{}, j.Fail(ctx, err, nil)
		}
		defer body.Close()
		return s.run(ctx, j, row, body, size, version, PhaseDownload)
	}
	f, err := os.Open(src.Path)
	if err != nil {
		return Counts{}, j.Fail(ctx, fmt.Errorf("open the bundle: %w", err), nil)
	}
	defer f.Close()
	size := int64(-1)
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	return s.run(ctx, j, row, f, size, version, PhaseRead)
}

// skipUnchanged ends the job when what is left of the file f is the
// bundle the last successful sync read (see unchanged.go), without
// parsing it; done is false when the file must be read and compared in
// full.
func (s *Syncer) skipUnchanged(ctx context.Context, j *job.Job, row *ent.AttackSync, f io.Reader) (counts Counts, done bool, err error) {
	last, err := lastSucceeded(rule.SystemContext(ctx), s.jobs.Client().AttackSync)
	if err != nil {
		return Counts{}, true, j.Fail(ctx, fmt.Errorf("read the last sync: %w", err), nil)
	}
	if last == nil || last.BundleSha256 == "" {
		return Counts{}, false, nil // nothing to compare with: no need to hash first
	}
	sum := hashFile(f)
	if sum != last.BundleSha256 {
		return Counts{}, false, nil
	}
	counts, err = s.finish(ctx, j, row, nil, sum)
	switch {
	case errors.Is(err, errChanged):
		return Counts{}, false, nil
	case err != nil:
		return Counts{}, true, j.Fail(ctx, err, nil)
	}
	return counts, true, nil
}

// Discard removes src's file when it is a temporary copy of an upload.
func (src Source) Discard() {
	if src.Temporary && src.Path != "" {
		os.Remove(src.Path)
	}
}

// SaveUpload stores a bundle uploaded as fileName in a temporary file,
// nothing held in memory, and returns it as a Source that the sync
// removes once read (Discard removes it before), with its size.
func SaveUpload(fileName string, r io.Reader) (Source, int64, error) {
	tmp, err := os.CreateTemp("", "violet-bundle-*.json")
	if err != nil {
		return Source{}, 0, err
	}
	src := Source{Path: tmp.Name(), Name: filepath.Base(fileName), Temporary: true}
	size, err := io.Copy(tmp, r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		src.Discard()
		return Source{}, 0, fmt.Errorf("store the upload: %w", err)
	}
	return src, size, nil
}

// Run reads a bundle from r (size bytes, or -1 when unknown), syncs it in
// one transaction and finishes the job Begin began: succeeded with its
// counts, or failed with a message for the person who started it.
// version is the ATT&CK release to record when the bundle does not say.
func (s *Syncer) Run(ctx context.Context, row *ent.AttackSync, r io.Reader, size int64, version, phase string) (Counts, error) {
	j, err := s.take(row)
	if err != nil {
		return Counts{}, err
	}
	return s.run(ctx, j, row, r, size, version, phase)
}

func (s *Syncer) run(ctx context.Context, j *job.Job, row *ent.AttackSync, r io.Reader, size int64, version, phase string) (Counts, error) {
	// A file can be read twice: hashed first, and not parsed at all when
	// it is the bundle the last sync read (see unchanged.go). A pipe's
	// Seek fails: it is read as a stream.
	if rs, ok := r.(io.ReadSeeker); ok {
		if start, err := rs.Seek(0, io.SeekCurrent); err == nil {
			if counts, done, err := s.skipUnchanged(ctx, j, row, rs); done {
				return counts, err
			}
			if _, err := rs.Seek(start, io.SeekStart); err != nil {
				return Counts{}, j.Fail(ctx, fmt.Errorf("read the bundle: %w", err), nil)
			}
		}
	}
	// Otherwise hashed as it is parsed, in the same pass.
	d := newDigest()
	tee := io.TeeReader(r, d)
	b, err := Read(tee, ReadOptions{Version: version, Progress: func(n int64) {
		if size > 0 {
			j.Progress(phase, int(60*n/size))
		}
	}})
	if err != nil {
		return Counts{}, j.Fail(ctx, err, nil)
	}
	j.Progress(PhaseWrite, 60)
	counts, err := s.finish(ctx, j, row, b, d.rest(tee))
	if err != nil {
		return Counts{}, j.Fail(ctx, err, nil)
	}
	return counts, nil
}

// finish syncs b, whose bytes hash to sum ("" when unknown), in one
// transaction with the job's end: succeeded with its counts, its audit
// record and the notification. When sum is the last successful sync's,
// the catalogue holds b already: nothing is compared or written, and
// every entry counts as unchanged. b is nil when the file was not read
// because its hash matched before: if another sync has succeeded since,
// finish returns errChanged and records nothing.
func (s *Syncer) finish(ctx context.Context, j *job.Job, row *ent.AttackSync, b *Bundle, sum string) (Counts, error) {
	var counts Counts
	err := j.Succeed(rule.SystemContext(ctx), func(ctx context.Context, tx *ent.Tx) (notify.Message, error) {
		if err := lock(ctx, tx); err != nil {
			return notify.Message{}, err
		}
		// Compared under the lock: no other sync can commit in between.
		var last *ent.AttackSync
		if sum != "" {
			var err error
			if last, err = lastSucceeded(ctx, tx.AttackSync); err != nil {
				return notify.Message{}, fmt.Errorf("read the last sync: %w", err)
			}
		}
		var version string
		switch {
		case last != nil && last.BundleSha256 == sum:
			// The same bytes make the same entries: as many as the last
			// sync counted, all of them unchanged. When b is nil the
			// bundle was not read, so its release is the one recorded
			// last time (the same, unless the bundle does not name it
			// and the file's name changed: MITRE's all name it).
			counts = Counts{Unchanged: last.Added + last.Updated + last.Revoked + last.Unchanged}
			version = last.AttackVersion
			if b != nil {
				version = b.Version
			}
		case b == nil:
			return notify.Message{}, errChanged
		default:
			var err error
			if counts, err = apply(ctx, tx, b, func(done, total int) { j.Progress(PhaseWrite, 60+40*done/max(total, 1)) }); err != nil {
				return notify.Message{}, err
			}
			version = b.Version
		}
		if err := tx.AttackSync.UpdateOneID(row.ID).SetStatus(attacksync.StatusSucceeded).SetPhase(PhaseDone).
			SetProgress(100).SetAttackVersion(version).SetBundleSha256(sum).SetAdded(counts.Added).SetUpdated(counts.Updated).
			SetRevoked(counts.Revoked).SetUnchanged(counts.Unchanged).SetFinishedAt(s.jobs.Now()).Exec(ctx); err != nil {
			return notify.Message{}, err
		}
		ev := audit.Event{Action: audit.AttackSynced, TargetType: "attack_sync", TargetID: row.ID.String(),
			TargetLabel: row.Source, Details: map[string]any{
				"attack_version": version, "added": counts.Added, "updated": counts.Updated,
				"revoked": counts.Revoked, "unchanged": counts.Unchanged,
			}}
		if row.StartedByID != nil {
			ev.Actor = auth.NewViewer(*row.StartedByID, row.StartedByLabel, "", "", uuid.Nil, nil, nil)
		}
		if err := audit.Record(ctx, tx.AuditEvent, ev); err != nil {
			return notify.Message{}, err
		}
		return notice(row.ID, &counts), nil
	})
	return counts, err
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

// Fail ends a job Begin began that could not run (a download error, say)
// as failed, and returns err.
func (s *Syncer) Fail(ctx context.Context, row *ent.AttackSync, err error) error {
	j, terr := s.take(row)
	if terr != nil {
		return errors.Join(err, terr)
	}
	return j.Fail(ctx, err, nil)
}

// Reap marks the running syncs whose instance is gone as failed with the
// "interrupted" message and tells whoever started them (see
// job.Runner.Reap). ids limits it to those jobs; none means every running
// one.
func (s *Syncer) Reap(ctx context.Context, ids ...uuid.UUID) (int, error) {
	return s.jobs.Reap(ctx, Syncs{}, ids...)
}

// Syncs plugs the ATT&CK sync into the job runner: its rows are
// attack_syncs.
type Syncs struct{}

// Name implements job.Kind.
func (Syncs) Name() string { return "ATT&CK sync" }

// Lock implements job.Kind.
func (Syncs) Lock() int32 { return joblock.AttackSync }

// Progress implements job.Kind.
func (Syncs) Progress(ctx context.Context, client *ent.Client, id uuid.UUID, phase string, percent int) error {
	return client.AttackSync.UpdateOneID(id).SetPhase(phase).SetProgress(percent).Exec(ctx)
}

// Fail implements job.Kind.
func (Syncs) Fail(ctx context.Context, tx *ent.Tx, id uuid.UUID, msg string, at time.Time) (bool, error) {
	n, err := tx.AttackSync.Update().Where(attacksync.ID(id), attacksync.StatusEQ(attacksync.StatusRunning)).
		SetStatus(attacksync.StatusFailed).SetPhase(PhaseDone).SetError(msg).SetFinishedAt(at).Save(ctx)
	return n > 0, err
}

// Running implements job.Kind.
func (Syncs) Running(ctx context.Context, client *ent.Client, ids []uuid.UUID) ([]job.Ref, error) {
	q := client.AttackSync.Query().Where(attacksync.StatusEQ(attacksync.StatusRunning))
	if len(ids) > 0 {
		q.Where(attacksync.IDIn(ids...))
	}
	rows, err := q.Select(attacksync.FieldSource, attacksync.FieldStartedByID).All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]job.Ref, len(rows))
	for i, r := range rows {
		out[i] = job.Ref{ID: r.ID, Source: r.Source, StartedBy: r.StartedByID}
	}
	return out, nil
}

// Message implements job.Kind.
func (Syncs) Message(err error) string { return Message(err) }

// Failed implements job.Kind.
func (Syncs) Failed(j job.Ref) notify.Message { return notice(j.ID, nil) }

// notice tells the person who started sync id that it ended (counts is
// nil when it failed); command-line syncs have nobody to tell.
func notice(id uuid.UUID, counts *Counts) notify.Message {
	m := notify.Message{Kind: notify.SyncFinished, TitleKey: "notify.title.sync_failed",
		Link: paths.URL(paths.AttackSyncJob, id)}
	if counts != nil {
		m.TitleKey, m.TitleArgs = "notify.title.sync_succeeded", []any{"Added", counts.Added, "Updated", counts.Updated}
	}
	return m
}

// historySize is how many syncs the sync page lists.
const historySize = 50

// Page is the sync page: form (nil: the form with the default URL), the
// upload field's error key, and the last syncs.
func (s *Syncer) Page(ctx context.Context, form *admin.SyncForm, uploadErr string) (admin.SyncPageProps, error) {
	p := admin.SyncPageProps{UploadError: uploadErr}
	if form != nil {
		p.Form = *form
	} else {
		p.Form.URL = s.DefaultURL(ctx)
	}
	syncs, err := s.jobs.Client().AttackSync.Query().Order(attacksync.ByCreatedAt(entsql.OrderDesc())).Limit(historySize).All(ctx)
	if err != nil {
		return p, fmt.Errorf("list syncs: %w", err)
	}
	for _, j := range syncs {
		p.History = append(p.History, Row(ctx, j))
	}
	return p, nil
}

// DefaultURL is the attack.source_url setting.
func (s *Syncer) DefaultURL(ctx context.Context) string {
	st, err := s.jobs.Client().Setting.Query().Where(setting.Key(seed.SettingAttackSourceURL)).Only(ctx)
	var u string
	if err == nil && json.Unmarshal(st.Value, &u) == nil {
		return u
	}
	return seed.Settings()[seed.SettingAttackSourceURL].(string)
}

// Show is a sync's page. The page is polled while the sync runs: a sync
// whose instance died shows as failed at once rather than at the next
// sweep.
func (s *Syncer) Show(ctx context.Context, id uuid.UUID) (admin.SyncRow, error) {
	client := s.jobs.Client()
	j, err := client.AttackSync.Get(ctx, id)
	if err != nil {
		return admin.SyncRow{}, err
	}
	if j.Status == attacksync.StatusRunning {
		if n, err := s.Reap(rule.SystemContext(ctx), id); err != nil {
			s.jobs.Log().Warn("check the sync is alive", "sync", id, "err", err)
		} else if n > 0 {
			if j, err = client.AttackSync.Get(ctx, id); err != nil {
				return admin.SyncRow{}, err
			}
		}
	}
	return Row(ctx, j), nil
}

// Row is a sync as the history and its page show it.
func Row(ctx context.Context, j *ent.AttackSync) admin.SyncRow {
	r := admin.SyncRow{
		ID: j.ID.String(), When: i18n.Time(ctx, j.CreatedAt), Who: j.StartedByLabel,
		Source: j.Source, Version: j.AttackVersion, Status: string(j.Status), Phase: j.Phase,
		Progress: j.Progress, Error: j.Error, Added: j.Added, Updated: j.Updated, Revoked: j.Revoked, Unchanged: j.Unchanged,
	}
	if j.FinishedAt != nil {
		r.Took = j.FinishedAt.Sub(j.CreatedAt).Round(100 * time.Millisecond).String()
	}
	return r
}
